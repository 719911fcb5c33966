//! Who may do what in the console and on the command line: the four roles of a back office.

use std::fmt;
use std::str::FromStr;

/// A user's role. Each role may do what the ones before it may: an operator works breaks, an
/// approver also approves what another person proposed (four eyes), an admin also manages
/// users and sees the files' originals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads every page; changes nothing.
    Viewer,
    /// Works breaks: assigns, notes, investigates, resolves, reopens, matches by hand.
    Operator,
    /// Approves or rejects what someone else proposed above the four-eyes limit.
    Approver,
    /// Everything, and users.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("expected one of viewer, operator, approver, admin, found {s:?}")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.allows(Role::Approver));
        assert!(Role::Approver.allows(Role::Operator));
        assert!(!Role::Operator.allows(Role::Approver));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert_eq!("Approver".parse::<Role>(), Ok(Role::Approver));
        assert!("root".parse::<Role>().is_err());
    }
}
