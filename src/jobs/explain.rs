//! What `clerk explain` says of a match, from the explanation the matcher kept with it: the
//! pass, the keys that agreed, the amounts and dates compared, and the candidates it beat.
//! One text for the command line and the console's break page.

/// The lines that explain a match (`why` is the kept explanation, parsed), as `clerk explain`
/// prints them.
pub fn why_lines(why: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let s = |v: &serde_json::Value| -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "-".into(),
            other => other.to_string(),
        }
    };
    if let Some(rule) = why["rule"].as_str() {
        return payables_lines(rule, why, s);
    }
    out.push(format!(
        "  pass {} ({}), score {}",
        s(&why["pass"]),
        s(&why["grouping"]),
        s(&why["score"])
    ));
    out.push(format!("    ours:   {}", s(&why["ours"])));
    out.push(format!("    theirs: {}", s(&why["theirs"])));
    for k in why["keys"].as_array().into_iter().flatten() {
        out.push(format!(
            "    key {} = {} ({}): {} / {}, agreed on {}",
            s(&k["ours_field"]),
            s(&k["theirs_field"]),
            s(&k["method"]),
            s(&k["ours"]),
            s(&k["theirs"]),
            s(&k["agreed_on"])
        ));
    }
    let a = &why["amount"];
    if !a.is_null() {
        out.push(format!(
            "    amount: ours {} {}, theirs {} {}{}; difference {} (allowed {})",
            s(&a["ours"]),
            s(&a["ours_currency"]),
            s(&a["theirs"]),
            s(&a["theirs_currency"]),
            if a["rate"].is_null() {
                String::new()
            } else {
                format!(" = {} at rate {}", s(&a["theirs_converted"]), s(&a["rate"]))
            },
            s(&a["difference"]),
            s(&a["allowed"])
        ));
    }
    let d = &why["date"];
    if !d.is_null() {
        out.push(format!(
            "    date: ours {}, theirs {}: {} business days apart (window {})",
            s(&d["ours"]),
            s(&d["theirs"]),
            s(&d["gap_business_days"]),
            s(&d["window_business_days"])
        ));
    }
    for ru in why["runners_up"].as_array().into_iter().flatten() {
        out.push(format!(
            "    beat {} / {} (score {}, {})",
            s(&ru["ours"]),
            s(&ru["theirs"]),
            s(&ru["score"]),
            s(&ru["lost_because"])
        ));
    }
    out
}

/// An accounts-payable match: the rule, what it decided in words, the invoice and each of its
/// lines with the order line and receipts it was paired with, and the files it came from.
fn payables_lines(
    rule: &str,
    why: &serde_json::Value,
    s: impl Fn(&serde_json::Value) -> String,
) -> Vec<String> {
    let mut out = vec![format!("  rule {rule}")];
    if !why["explanation"].is_null() {
        out.push(format!("    {}", s(&why["explanation"])));
    }
    if !why["invoice"].is_null() {
        out.push(format!("    invoice: {}", s(&why["invoice"])));
    }
    if !why["statement_line"].is_null() {
        out.push(format!("    statement line: {}", s(&why["statement_line"])));
    }
    for l in why["lines"].as_array().into_iter().flatten() {
        let receipts: Vec<String> = l["receipts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(&s)
            .collect();
        out.push(format!(
            "    line {} -> order {}{}: {} at {} (ordered at {}), receipts {}{}",
            s(&l["invoice_line"]),
            s(&l["order_line"]),
            l["item"]
                .as_str()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default(),
            s(&l["quantity"]),
            s(&l["unit_price"]),
            s(&l["order_price"]),
            if receipts.is_empty() {
                "none".to_string()
            } else {
                receipts.join(", ")
            },
            match l["cleared"].as_str() {
                Some(c) => format!("; {c} cleared against GR/IR"),
                None => "; to expense".to_string(),
            }
        ));
    }
    for src in why["sources"].as_array().into_iter().flatten() {
        out.push(format!("    from {}", s(src)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_is_explained_with_its_keys_amounts_dates_and_the_candidates_it_beat() {
        let why = serde_json::json!({
            "pass": "reference", "grouping": "one_to_one", "score": 1,
            "ours": "INV-7 50.00 EUR", "theirs": "BK7 50.00 EUR",
            "keys": [{"ours_field": "reference", "theirs_field": "remittance_info",
                      "method": "contains", "ours": "INV-7", "theirs": "PAY INV-7",
                      "agreed_on": "INV-7"}],
            "amount": {"ours": "50.00", "ours_currency": "EUR", "theirs": "50.00",
                       "theirs_currency": "EUR", "rate": null, "difference": "0.00",
                       "allowed": "0.00"},
            "date": null,
            "runners_up": [{"ours": "INV-8", "theirs": "BK7", "score": 0.5,
                            "lost_because": "amount differs"}]
        });
        assert_eq!(
            why_lines(&why),
            [
                "  pass reference (one_to_one), score 1",
                "    ours:   INV-7 50.00 EUR",
                "    theirs: BK7 50.00 EUR",
                "    key reference = remittance_info (contains): INV-7 / PAY INV-7, agreed on INV-7",
                "    amount: ours 50.00 EUR, theirs 50.00 EUR; difference 0.00 (allowed 0.00)",
                "    beat INV-8 / BK7 (score 0.5, amount differs)",
            ]
        );
    }

    #[test]
    fn a_payables_match_names_its_invoice_lines_order_lines_and_receipts() {
        let why = serde_json::json!({
            "rule": "three_way",
            "explanation": "invoice INV-1 matches purchase order PO-7: ...",
            "invoice": "invoice INV-1 from Stuhl AG of 1071.00 EUR (order PO-7)",
            "lines": [{"invoice_line": "1", "order_line": "PO-7 line 1", "item": "CHAIR",
                       "quantity": "6", "unit_price": "150.00", "order_price": "149.00",
                       "receipts": ["GR-9 of 6 on 2026-11-20"], "cleared": "6"}],
            "sources": ["inv.xml line 1 (invoice INV-1)", "po.csv line 2 (purchase order PO-7 line 1)"]
        });
        assert_eq!(
            why_lines(&why),
            [
                "  rule three_way",
                "    invoice INV-1 matches purchase order PO-7: ...",
                "    invoice: invoice INV-1 from Stuhl AG of 1071.00 EUR (order PO-7)",
                "    line 1 -> order PO-7 line 1 (CHAIR): 6 at 150.00 (ordered at 149.00), receipts GR-9 of 6 on 2026-11-20; 6 cleared against GR/IR",
                "    from inv.xml line 1 (invoice INV-1)",
                "    from po.csv line 2 (purchase order PO-7 line 1)",
            ]
        );
    }
}
