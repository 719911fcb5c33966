//! MT535 (statement of holdings), MT536 (statement of transactions) and MT537 (statement of
//! pending transactions).
//!
//! These messages nest sequences (`:16R:FIN` … `:16S:FIN`) and qualify their fields
//! (`:93B::AGGR//UNIT/1000,`). The fields are first arranged into their sequence tree (every
//! `:16R:` must be closed by its `:16S:`), then read:
//! - MT535: every `FIN` sequence is one [`Position`]: `:35B:` security, `:93B::AGGR//` quantity
//!   (`N` before the number: negative, a short position), `:93B::AVAI//`, the first
//!   `:90A:`/`:90B:` price, `:19A::HOLD//` value. Fields of its sub-sequences (`SUBBAL`, `FIA`)
//!   are not the position's. The account is the enclosing `SUBSAFE`'s `:97A::SAFE//`, else
//!   the statement's.
//! - MT536/537: every `TRAN` sequence with a `:22H::REDE//` (receive or deliver), looked for in
//!   the sequence and its sub-sequences (`LINK`, `TRANSDET`, `SETPRTY`), is one
//!   [`SecuritiesTransaction`]; its security is its own `:35B:` or the nearest enclosing
//!   sequence's (MT536 `FIN`).
//!
//! An ISIN with a wrong check digit is not taken as an ISIN: it is kept in `security_id`.

use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::field::{self, Field, amount, date8, qualified, quoted};
use super::{Ctx, MtType, Read};
use crate::model::Source;
use crate::model::ids::isin_is_valid;
use crate::model::securities::{
    Direction, HoldingStatement, Money, Position, Price, QuantityKind, SecuritiesTransaction,
    TransactionStatement,
};

/// One sequence: its name, where it opens, its own fields and its sub-sequences.
struct Node<'a> {
    name: &'a str,
    line: u32,
    parent: Option<usize>,
    fields: Vec<Field<'a>>,
    children: Vec<usize>,
}

struct Tree<'a> {
    nodes: Vec<Node<'a>>,
}

impl<'a> Tree<'a> {
    fn build(ctx: &mut Ctx<'_>, fields: &[Field<'a>]) -> Option<Tree<'a>> {
        let mut nodes = vec![Node {
            name: "",
            line: ctx.start_line,
            parent: None,
            fields: Vec::new(),
            children: Vec::new(),
        }];
        let mut cur = 0;
        for f in fields {
            match f.tag {
                "16R" => {
                    let id = nodes.len();
                    nodes.push(Node {
                        name: f.value.trim(),
                        line: f.line,
                        parent: Some(cur),
                        fields: Vec::new(),
                        children: Vec::new(),
                    });
                    nodes[cur].children.push(id);
                    cur = id;
                }
                "16S" => {
                    let name = f.value.trim();
                    if cur == 0 || nodes[cur].name != name {
                        let open = if cur == 0 {
                            "no sequence is open".to_owned()
                        } else {
                            format!(
                                "the open sequence is {} (line {})",
                                nodes[cur].name, nodes[cur].line
                            )
                        };
                        ctx.problem(f.line, "16S", format!("closes sequence {name}, but {open}"));
                        return None;
                    }
                    cur = nodes[cur].parent.unwrap_or(0);
                }
                _ => nodes[cur].fields.push(*f),
            }
        }
        if cur != 0 {
            let n = &nodes[cur];
            ctx.problem(
                n.line,
                "16R",
                format!(
                    "sequence {} is never closed by :16S:{} (is the message cut short?)",
                    n.name, n.name
                ),
            );
            return None;
        }
        Some(Tree { nodes })
    }

    /// Nodes named `name`, in document order.
    fn named(&self, name: &str) -> Vec<usize> {
        let mut out = Vec::new();
        self.walk(0, &mut |i| {
            if self.nodes[i].name == name {
                out.push(i);
            }
        });
        out
    }

    fn walk(&self, i: usize, f: &mut dyn FnMut(usize)) {
        f(i);
        for &c in &self.nodes[i].children {
            self.walk(c, f);
        }
    }

    /// The node's own field with this tag and qualifier (`qual` empty: any).
    fn own(&self, i: usize, tag: &str, qual: &str) -> Option<(Field<'a>, &'a str)> {
        self.nodes[i].fields.iter().find_map(|f| pick(f, tag, qual))
    }

    /// The first such field in the node or its sub-sequences.
    fn deep(&self, i: usize, tag: &str, qual: &str) -> Option<(Field<'a>, &'a str)> {
        self.own(i, tag, qual).or_else(|| {
            self.nodes[i]
                .children
                .iter()
                .find_map(|&c| self.deep(c, tag, qual))
        })
    }

    fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.nodes[i].parent, move |&p| self.nodes[p].parent)
    }
}

fn pick<'a>(f: &Field<'a>, tag: &str, qual: &str) -> Option<(Field<'a>, &'a str)> {
    if f.tag != tag {
        return None;
    }
    if qual.is_empty() {
        return Some((*f, f.value));
    }
    match qualified(f.value) {
        Some((q, v)) if q == qual => Some((*f, v)),
        _ => None,
    }
}

/// `:35B:` → (ISIN, other identifier, description).
fn security(v: &str) -> (Option<String>, Option<String>, Option<String>) {
    let mut lines = v.split('\n').map(str::trim);
    let first = lines.next().unwrap_or("");
    let mut name: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let (isin, id) = if let Some(rest) = first.strip_prefix("ISIN ") {
        let (code, more) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
        if !more.trim().is_empty() {
            name.insert(0, more.trim());
        }
        if isin_is_valid(code) {
            (Some(code.to_owned()), None)
        } else {
            (None, Some(code.to_owned()))
        }
    } else if first.starts_with('/') {
        (None, Some(first.to_owned()))
    } else {
        if !first.is_empty() {
            name.insert(0, first);
        }
        (None, None)
    };
    let name = (!name.is_empty()).then(|| name.join(" "));
    (isin, id, name)
}

/// `[N]15d` → signed amount.
fn signed(v: &str) -> Result<Decimal, String> {
    match v.strip_prefix('N') {
        Some(rest) => amount(rest).map(|a| -a),
        None => amount(v),
    }
}

/// `:93B:`/`:36B:` value after the qualifier: `UNIT/[N]1000,`.
fn quantity(v: &str) -> Result<(Decimal, QuantityKind), String> {
    let (code, n) = v
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("expected a quantity such as UNIT/1000, found {}", quoted(v)))?;
    let kind = match code {
        "UNIT" => QuantityKind::Units,
        "FAMT" => QuantityKind::FaceAmount,
        "AMOR" => QuantityKind::AmortisedValue,
        _ => {
            return Err(format!(
                "expected the quantity type UNIT, FAMT or AMOR, found {}",
                quoted(code)
            ));
        }
    };
    Ok((signed(n)?, kind))
}

/// `:19A:` value after the qualifier: `[N]EUR1000,`.
fn money(v: &str) -> Result<Money, String> {
    let v = v.trim();
    let (neg, rest) = match v.strip_prefix('N') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let currency = field::currency(rest).ok_or_else(|| {
        format!(
            "expected a currency and amount such as EUR1000,, found {}",
            quoted(v)
        )
    })?;
    let a = amount(&rest[3..])?;
    Ok(Money {
        amount: if neg { -a } else { a },
        currency,
    })
}

/// `:90A:` (`PRCT/101,5`) or `:90B:` (`ACTU/EUR12,34`).
fn price(tag: &str, v: &str) -> Result<Price, String> {
    let (code, rest) = v
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("expected a price such as PRCT/101,5, found {}", quoted(v)))?;
    if tag == "90A" {
        Ok(Price {
            value: signed(rest)?,
            currency: None,
            percentage: matches!(code, "PRCT" | "YIEL" | "DISC" | "PREM"),
        })
    } else {
        let m = money(rest)?;
        Ok(Price {
            value: m.amount,
            currency: Some(m.currency),
            percentage: false,
        })
    }
}

/// `:98A:` `YYYYMMDD` or `:98C:` `YYYYMMDDhhmmss`: the date.
fn date_of(f: &Field<'_>, v: &str) -> Result<NaiveDate, String> {
    let v = v.trim();
    v.get(..8)
        .and_then(date8)
        .filter(|_| f.tag != "98A" || v.len() == 8)
        .ok_or_else(|| format!("expected a date YYYYMMDD, found {}", quoted(v)))
}

/// `:97A::SAFE//123` or `:97B::SAFE/ISSR/TYPE/123`.
fn safekeeping(tree: &Tree<'_>, i: usize) -> Option<String> {
    if let Some((_, v)) = tree.own(i, "97A", "SAFE") {
        return Some(v.trim().to_owned());
    }
    tree.own(i, "97B", "SAFE")
        .map(|(_, v)| v.rsplit('/').next().unwrap_or(v).trim().to_owned())
}

struct Reader<'c, 'a, 't> {
    ctx: &'c mut Ctx<'a>,
    tree: Tree<'t>,
}

impl<'t> Reader<'_, '_, 't> {
    fn ok<T>(&mut self, f: &Field<'_>, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(m) => {
                self.ctx.problem(f.line, f.tag, m);
                None
            }
        }
    }

    fn date(&mut self, found: Option<(Field<'t>, &'t str)>) -> Option<NaiveDate> {
        let (f, v) = found?;
        let r = date_of(&f, v);
        self.ok(&f, r)
    }

    fn source(&self, row: u32, locator: String) -> Source {
        Source {
            file: Arc::clone(self.ctx.file_hash),
            sheet: None,
            row,
            locator: Some(locator.into()),
        }
    }

    /// The account of a node: its own or the nearest enclosing `SAFE`.
    fn account(&self, i: usize, statement: &str) -> String {
        std::iter::once(i)
            .chain(self.tree.ancestors(i))
            .find_map(|n| safekeeping(&self.tree, n))
            .unwrap_or_else(|| statement.to_owned())
    }
}

/// Reads one MT535/536/537 message.
pub(super) fn message(ctx: &mut Ctx<'_>, ty: MtType, fields: &[Field<'_>]) -> Read {
    let Some(tree) = Tree::build(ctx, fields) else {
        return Read::Failed;
    };
    let mut r = Reader { ctx, tree };
    let Some(&genl) = r.tree.named("GENL").first() else {
        let line = r.ctx.start_line;
        r.ctx.problem(
            line,
            "16R",
            "the message has no GENL sequence (:16R:GENL)".into(),
        );
        return Read::Failed;
    };
    let account = safekeeping(&r.tree, genl).unwrap_or_default();
    let statement_id = r
        .tree
        .own(genl, "20C", "SEME")
        .map(|(_, v)| v.trim().to_owned());
    let start = r.ctx.start_line;
    let locator = format!("message {}", r.ctx.index);
    if ty == MtType::Mt535 {
        let stat = r
            .tree
            .own(genl, "98A", "STAT")
            .or_else(|| r.tree.own(genl, "98C", "STAT"));
        if stat.is_none() {
            let line = r.tree.nodes[genl].line;
            r.ctx.problem(
                line,
                "98A",
                "GENL has no statement date :98A::STAT// or :98C::STAT//".into(),
            );
            return Read::Failed;
        }
        let Some(date) = r.date(stat) else {
            return Read::Failed;
        };
        let page = r
            .tree
            .own(genl, "28E", "")
            .map(|(_, v)| v.trim().to_owned());
        let positions = holdings(&mut r, &account, date);
        return Read::Holding(HoldingStatement {
            account,
            statement_date: date,
            statement_id,
            page,
            positions,
            source: r.source(start, locator),
        });
    }
    let (mut from, mut to) = (None, None);
    if let Some((f, v)) = r
        .tree
        .own(genl, "69A", "STAT")
        .or_else(|| r.tree.own(genl, "69B", "STAT"))
    {
        let (a, b) = v.split_once('/').unwrap_or((v, ""));
        from = r.date(Some((f, a)));
        to = r.date(Some((f, b)));
    } else if let Some(found) = r
        .tree
        .own(genl, "98A", "STAT")
        .or_else(|| r.tree.own(genl, "98C", "STAT"))
    {
        to = r.date(Some(found));
    }
    let transactions = transactions(&mut r, &account, ty == MtType::Mt537);
    Read::Transactions(TransactionStatement {
        account,
        statement_id,
        from_date: from,
        to_date: to,
        pending: ty == MtType::Mt537,
        transactions,
        source: r.source(start, locator),
    })
}

fn holdings(r: &mut Reader<'_, '_, '_>, account: &str, as_of: NaiveDate) -> Vec<Position> {
    let mut out = Vec::new();
    for (k, fin) in r.tree.named("FIN").into_iter().enumerate() {
        let Some((f35, v35)) = r.tree.own(fin, "35B", "") else {
            let line = r.tree.nodes[fin].line;
            r.ctx
                .problem(line, "35B", "FIN has no security :35B:".into());
            continue;
        };
        let (isin, security_id, security_name) = security(v35);
        let Some((fq, vq)) = r.tree.own(fin, "93B", "AGGR") else {
            r.ctx.problem(
                f35.line,
                "93B",
                "the holding has no aggregate balance :93B::AGGR//".into(),
            );
            continue;
        };
        let q = quantity(vq);
        let Some((qty, quantity_kind)) = r.ok(&fq, q) else {
            continue;
        };
        let available = match r.tree.own(fin, "93B", "AVAI") {
            Some((f, v)) => {
                let q = quantity(v);
                r.ok(&f, q).map(|q| q.0)
            }
            None => None,
        };
        let found = r.nodes_fields(fin, &["90A", "90B"]);
        let price = match found {
            Some((f, v)) => {
                let p = qualified(v)
                    .ok_or_else(|| format!("expected :QUAL//price, found {}", quoted(v)))
                    .and_then(|(_, p)| price(f.tag, p));
                r.ok(&f, p)
            }
            None => None,
        };
        let market_value = match r.tree.own(fin, "19A", "HOLD") {
            Some((f, v)) => {
                let m = money(v);
                r.ok(&f, m)
            }
            None => None,
        };
        out.push(Position {
            account: r.account(fin, account),
            isin,
            security_id,
            security_name,
            quantity: qty,
            quantity_kind,
            available,
            price,
            market_value,
            book_value: None,
            as_of,
            source: r.source(
                f35.line,
                format!("message {}, :35B: #{}", r.ctx.index, k + 1),
            ),
        });
    }
    out
}

impl<'t> Reader<'_, '_, 't> {
    /// The node's first own field with one of these tags.
    fn nodes_fields(&self, i: usize, tags: &[&str]) -> Option<(Field<'t>, &'t str)> {
        self.tree.nodes[i]
            .fields
            .iter()
            .find(|f| tags.contains(&f.tag))
            .map(|f| (*f, f.value))
    }
}

fn transactions(
    r: &mut Reader<'_, '_, '_>,
    account: &str,
    pending: bool,
) -> Vec<SecuritiesTransaction> {
    let mut out = Vec::new();
    let trans: Vec<usize> = r
        .tree
        .named("TRAN")
        .into_iter()
        .filter(|&t| r.tree.deep(t, "22H", "REDE").is_some())
        .collect();
    for (k, t) in trans.into_iter().enumerate() {
        let line = r.tree.nodes[t].line;
        let Some((fd, vd)) = r.tree.deep(t, "22H", "REDE") else {
            continue;
        };
        let direction = match vd.trim() {
            "RECE" => Direction::Receive,
            "DELI" => Direction::Deliver,
            other => {
                r.ctx.problem(
                    fd.line,
                    fd.tag,
                    format!(
                        "expected RECE or DELI (receive or deliver), found {}",
                        quoted(other)
                    ),
                );
                continue;
            }
        };
        let qty = ["PSTA", "SETT", ""]
            .iter()
            .find_map(|q| r.tree.deep(t, "36B", q));
        let Some((fq, vq)) = qty else {
            r.ctx
                .problem(line, "36B", "the transaction has no quantity :36B:".into());
            continue;
        };
        let q = quantity(vq);
        let Some((quantity, quantity_kind)) = r.ok(&fq, q) else {
            continue;
        };
        let sec = r
            .tree
            .deep(t, "35B", "")
            .or_else(|| r.tree.ancestors(t).find_map(|a| r.tree.deep(a, "35B", "")));
        let (isin, security_id, security_name) = sec.map(|s| security(s.1)).unwrap_or_default();
        let settlement_amount = match ["PSTA", "SETT"]
            .iter()
            .find_map(|q| r.tree.deep(t, "19A", q))
        {
            Some((f, v)) => {
                let m = money(v);
                r.ok(&f, m)
            }
            None => None,
        };
        let trade = when(&r.tree, t, "TRAD");
        let trade_date = r.date(trade);
        let sett = when(&r.tree, t, "ESET").or_else(|| when(&r.tree, t, "SETT"));
        let settlement_date = r.date(sett);
        let text = |q: &str| {
            r.tree
                .deep(t, "20C", q)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| v != "NONREF")
        };
        let reference = text("RELA");
        let custodian_reference = text("ASRF");
        let status = pending
            .then(|| status_codes(&r.tree, t))
            .filter(|s| !s.is_empty());
        let parties: &[&str] = match direction {
            Direction::Receive => &["DEAG", "SELL"],
            Direction::Deliver => &["REAG", "BUYR"],
        };
        let counterparty = parties.iter().find_map(|q| {
            ["95P", "95R", "95Q"]
                .iter()
                .find_map(|tag| r.tree.deep(t, tag, q))
                .map(|(_, v)| v.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        });
        out.push(SecuritiesTransaction {
            account: r.account(t, account),
            isin,
            security_id,
            security_name,
            direction,
            quantity: quantity.abs(),
            quantity_kind,
            settlement_amount,
            trade_date,
            settlement_date,
            reference,
            custodian_reference,
            status,
            counterparty,
            source: r.source(line, format!("message {}, TRAN #{}", r.ctx.index, k + 1)),
        });
    }
    out
}

/// A `:98A:`/`:98C:` date field with this qualifier in the sequence or its sub-sequences.
fn when<'t>(tree: &Tree<'t>, t: usize, q: &str) -> Option<(Field<'t>, &'t str)> {
    tree.deep(t, "98A", q).or_else(|| tree.deep(t, "98C", q))
}

/// MT537 status and reason codes (`:25D:`, `:24B:`) of a transaction: in its own
/// sub-sequences (statement by transaction) and in the enclosing `STAT` sequences and their
/// `REAS` (statement by status). Other enclosing sequences' codes (a penalty's `PNST`) are not
/// the transaction's.
fn status_codes(tree: &Tree<'_>, t: usize) -> String {
    let mut codes: Vec<String> = Vec::new();
    let mut add = |i: usize| {
        for f in &tree.nodes[i].fields {
            if (f.tag == "25D" || f.tag == "24B")
                && let Some((q, v)) = qualified(f.value)
            {
                let c = format!("{q}//{}", v.trim());
                if !codes.contains(&c) {
                    codes.push(c);
                }
            }
        }
    };
    tree.walk(t, &mut add);
    for a in tree.ancestors(t).filter(|&a| tree.nodes[a].name == "STAT") {
        add(a);
        for &c in &tree.nodes[a].children {
            if tree.nodes[c].name == "REAS" {
                add(c);
            }
        }
    }
    codes.join(", ")
}
