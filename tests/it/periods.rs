use crate::support::install::Install;
#[test]
fn placeholder_periods() {
    let _ = Install::new;
}
