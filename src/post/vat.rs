//! VAT of supplier invoices as the law reads it, for accounts payable: which VAT an invoice lets
//! the buyer deduct and where it is booked, and the VAT a cash discount takes back.
//!
//! An invoice's VAT breakdown names a tax category (UNCL 5305) and a rate per part:
//! - charged by the supplier (`S` standard, `L`, `M`, or no category): the VAT shown on the
//!   invoice is what is deducted as input VAT, never a recomputation; shown VAT that differs
//!   from the rate applied to the base by more than a cent (EN 16931 BR-CO-17) is refused, so a
//!   person looks at it before it is deducted;
//! - reverse charge (`AE`, § 13b UStG, Art. 196 VAT directive) and intra-community acquisition
//!   (`K` on the supplier's invoice, "innergemeinschaftlicher Erwerb"): the invoice shows no VAT
//!   and the buyer owes it itself: input VAT debited and output VAT credited at the rate, both
//!   posted, so what is owed to the supplier is the net amount;
//! - exempt, zero-rated, export, outside scope (`E`, `Z`, `G`, `O`): no VAT line at all.
//!
//! `[[payables.tax_codes]]` maps a category (with a rate and where the supplier sits, when
//! they matter) to accounts. Where the supplier sits (domestic, EU, third country) comes from
//! the supplier's and buyer's country, else the prefix of their VAT ids, else the job's
//! `home_country` for the buyer. Charged categories no tax code names still go to
//! `input_vat_rates`/`input_vat`, as before tax codes.
//!
//! Pure, and knows only `model`: the entry is built in `payables.rs`, which resolves the
//! account templates returned here against the chart.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::model::invoice::{Invoice, Party, TaxBreakdown};

/// Where the supplier sits, seen from the buyer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Domestic,
    /// Another member state of the European Union.
    Eu,
    ThirdCountry,
}

impl Location {
    /// As the configuration writes it.
    pub fn parse(text: &str) -> Option<Location> {
        match text.trim().to_ascii_lowercase().as_str() {
            "domestic" => Some(Location::Domestic),
            "eu" => Some(Location::Eu),
            "third_country" => Some(Location::ThirdCountry),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Location::Domestic => "domestic",
            Location::Eu => "eu",
            Location::ThirdCountry => "third_country",
        }
    }
}

/// One `[[payables.tax_codes]]` entry: a tax category (and rate, and where the supplier sits,
/// when given) and the accounts its VAT is booked to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaxCode {
    /// UNCL 5305, upper case: `S`, `AE`, `K`, …
    pub category: String,
    /// For a charged category, the rate this entry is for (any rate when absent); for a
    /// self-assessed one, the rate the buyer owes (the invoice's own rate is usually 0).
    pub rate: Option<Decimal>,
    /// Only for suppliers that sit there; any supplier when absent.
    pub supplier: Option<Location>,
    /// Input VAT account template (`{rate}`, `{currency}` filled).
    pub input_vat: String,
    /// Output VAT account for self-assessed VAT (reverse charge, intra-community acquisition).
    pub output_vat: Option<String>,
}

/// The VAT settings of an accounts-payable job beyond the input VAT accounts by rate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VatRules {
    pub codes: Vec<TaxCode>,
    /// The buyer's country (ISO 3166 alpha-2) when an invoice names neither the buyer's
    /// country nor its VAT id.
    pub home_country: Option<String>,
    /// Where the net part of a cash discount taken is credited (SKR03 3730 "Erhaltene Skonti").
    pub cash_discount: Option<String>,
}

/// What the VAT of an invoice or a discount does to the entry: an account template, the value
/// of its `{rate}` placeholder, and the amount to debit (negative: credit) for an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VatPosting {
    pub account: String,
    pub rate: String,
    pub amount: Decimal,
}

/// Why an invoice's VAT cannot be booked as it stands; a person decides.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VatRefused {
    #[error(
        "the VAT shown at {rate} % is {shown}, but {rate} % of {base} is {computed}: more than a cent apart, so it is not deducted until a person checks the invoice"
    )]
    ShownDiffers {
        rate: String,
        base: Decimal,
        shown: Decimal,
        computed: Decimal,
    },
    #[error(
        "tax category {category} ({what}) from {location}: the buyer owes this VAT itself, but no [[payables.tax_codes]] entry for {category} names input_vat and output_vat{rates}"
    )]
    NoSelfAssessment {
        category: String,
        what: &'static str,
        location: String,
        rates: String,
    },
    #[error(
        "tax category {category} ({what}) shows VAT of {shown}: the supplier may not charge VAT on it; the invoice needs correcting"
    )]
    VatWhereNoneIsDue {
        category: String,
        what: &'static str,
        shown: Decimal,
    },
    #[error(
        "tax category {category} ({what}) has no rate: neither the invoice nor a [[payables.tax_codes]] entry says at which rate the buyer owes the VAT"
    )]
    NoRate {
        category: String,
        what: &'static str,
    },
    #[error(
        "the payment takes a cash discount of {amount}, but [payables.accounts] names no cash_discount account (SKR03 3730 Erhaltene Skonti) to credit it to"
    )]
    NoDiscountAccount { amount: Decimal },
}

/// The member states of the European Union by ISO code, and Greece's VAT prefix `EL` and
/// Northern Ireland's `XI` (goods), which VAT ids use.
const EU: &[&str] = &[
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "EL", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI",
];

/// How a tax category is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Treatment {
    /// The supplier charges VAT; the buyer deducts it.
    Charged,
    /// The buyer owes the VAT itself and deducts it: both sides posted.
    SelfAssessed(&'static str),
    /// No VAT on either side.
    None(&'static str),
}

fn treatment(category: Option<&str>) -> Treatment {
    match category.map(|c| c.trim().to_ascii_uppercase()).as_deref() {
        Some("AE") => Treatment::SelfAssessed("reverse charge, § 13b UStG"),
        Some("K") => Treatment::SelfAssessed("intra-community acquisition"),
        Some("E") => Treatment::None("exempt"),
        Some("Z") => Treatment::None("zero rated"),
        Some("G") => Treatment::None("export outside the EU"),
        Some("O") => Treatment::None("outside the scope of VAT"),
        _ => Treatment::Charged,
    }
}

/// A party's country: its address, else its VAT id's prefix.
fn country(p: &Party) -> Option<String> {
    p.country
        .as_deref()
        .map(str::trim)
        .filter(|c| c.len() == 2)
        .or_else(|| {
            p.vat_id
                .as_deref()
                .map(str::trim)
                .filter(|v| v.len() > 2 && v.is_char_boundary(2))
                .map(|v| &v[..2])
                .filter(|c| c.chars().all(|ch| ch.is_ascii_alphabetic()))
        })
        .map(|c| match c.to_ascii_uppercase().as_str() {
            // A Greek VAT id begins EL; its country code is GR.
            "EL" => "GR".to_string(),
            other => other.to_string(),
        })
}

/// Where the invoice's supplier sits from the buyer's point of view; `None` when either
/// country is unknown.
pub fn supplier_location(invoice: &Invoice, rules: &VatRules) -> Option<Location> {
    let supplier = country(&invoice.supplier)?;
    let buyer = country(&invoice.customer).or_else(|| {
        rules
            .home_country
            .as_deref()
            .map(|c| c.trim().to_ascii_uppercase())
    })?;
    Some(if supplier == buyer {
        Location::Domestic
    } else if EU.contains(&supplier.as_str()) {
        Location::Eu
    } else {
        Location::ThirdCountry
    })
}

/// A rate as `{rate}` and the configuration write it: `19`, `5.5`.
fn rate_text(rate: Decimal) -> String {
    rate.normalize().to_string()
}

/// The tax code entries for `category` that apply to a supplier at `location`, most specific
/// (supplier named) first, in the order of the configuration within each.
fn entries<'a>(
    rules: &'a VatRules,
    category: &str,
    location: Option<Location>,
) -> Vec<&'a TaxCode> {
    let mut found: Vec<&TaxCode> = rules
        .codes
        .iter()
        .filter(|c| c.category.eq_ignore_ascii_case(category))
        .filter(|c| c.supplier.is_none() || c.supplier == location)
        .collect();
    found.sort_by_key(|c| c.supplier.is_none());
    found
}

/// The input VAT postings of an invoice, signed for an invoice (a credit note's caller negates
/// them): per VAT breakdown, the VAT shown to input VAT, or for a self-assessed category the
/// VAT owed to input VAT and the same to output VAT, or nothing for an exempt one. `input_vat`
/// and `input_vat_rates` are the job's accounts for charged VAT no tax code names.
pub fn invoice_vat(
    invoice: &Invoice,
    rules: &VatRules,
    input_vat: &str,
    input_vat_rates: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<VatPosting>, VatRefused> {
    let location = supplier_location(invoice, rules);
    let mut out = Vec::new();
    for t in &invoice.tax {
        let category = t
            .category
            .as_deref()
            .unwrap_or("S")
            .trim()
            .to_ascii_uppercase();
        match treatment(Some(&category)) {
            Treatment::Charged => {
                check_shown(t)?;
                let rate = t
                    .rate
                    .map(rate_text)
                    .or_else(|| t.category.clone())
                    .unwrap_or_default();
                let account = entries(rules, &category, location)
                    .into_iter()
                    .find(|c| {
                        c.rate
                            .is_none_or(|r| Some(r.normalize()) == t.rate.map(|x| x.normalize()))
                    })
                    .map(|c| c.input_vat.clone())
                    .unwrap_or_else(|| {
                        input_vat_rates
                            .get(&rate)
                            .cloned()
                            .unwrap_or_else(|| input_vat.to_string())
                    });
                out.push(VatPosting {
                    account,
                    rate,
                    amount: t.tax_amount,
                });
            }
            Treatment::SelfAssessed(what) => {
                if !t.tax_amount.is_zero() {
                    return Err(VatRefused::VatWhereNoneIsDue {
                        category,
                        what,
                        shown: t.tax_amount,
                    });
                }
                let shown_rate = t.rate.filter(|r| !r.is_zero()).map(|r| r.normalize());
                let found = entries(rules, &category, location);
                let code = found.iter().filter(|c| c.output_vat.is_some()).find(|c| {
                    match (shown_rate, c.rate) {
                        (Some(shown), Some(r)) => shown == r.normalize(),
                        _ => true,
                    }
                });
                let Some(code) = code else {
                    return Err(VatRefused::NoSelfAssessment {
                        category,
                        what,
                        location: match location {
                            Some(Location::Domestic) => "a domestic supplier",
                            Some(Location::Eu) => "a supplier in another EU member state",
                            Some(Location::ThirdCountry) => "a supplier outside the EU",
                            None => "a supplier whose country the invoice does not tell",
                        }
                        .to_string(),
                        rates: shown_rate
                            .map(|r| format!(" at {} %", rate_text(r)))
                            .unwrap_or_default(),
                    });
                };
                let Some(rate) = shown_rate.or(code.rate.map(|r| r.normalize())) else {
                    return Err(VatRefused::NoRate { category, what });
                };
                let owed = cents(t.taxable_amount * rate / Decimal::ONE_HUNDRED);
                let rate = rate_text(rate);
                out.push(VatPosting {
                    account: code.input_vat.clone(),
                    rate: rate.clone(),
                    amount: owed,
                });
                out.push(VatPosting {
                    account: code.output_vat.clone().unwrap_or_default(),
                    rate,
                    amount: -owed,
                });
            }
            Treatment::None(what) => {
                if !t.tax_amount.is_zero() {
                    return Err(VatRefused::VatWhereNoneIsDue {
                        category,
                        what,
                        shown: t.tax_amount,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// BR-CO-17: the VAT shown for a rate is the rate applied to its base, to the cent; a cent's
/// difference is rounding (an invoice list adds up VAT per line), more is an error.
fn check_shown(t: &TaxBreakdown) -> Result<(), VatRefused> {
    let Some(rate) = t.rate else {
        return Ok(());
    };
    let computed = cents(t.taxable_amount * rate / Decimal::ONE_HUNDRED);
    if (computed - t.tax_amount).abs() > Decimal::new(1, 2) {
        return Err(VatRefused::ShownDiffers {
            rate: rate_text(rate),
            base: t.taxable_amount,
            shown: t.tax_amount,
            computed,
        });
    }
    Ok(())
}

fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// How a cash discount taken on `invoice` splits (§ 17 UStG: the discount reduces the price,
/// and with it the VAT deducted): the discount's share of each VAT breakdown in proportion to
/// what the breakdown asked (base plus VAT shown), and of each share the VAT part back out of
/// its input VAT account; the rest of the discount is the net discount received. Returned as
/// credits (negative amounts) for an invoice: the net to `cash_discount`, the VAT to
/// the accounts the invoice debited. Self-assessed VAT falls with its base: the input and the
/// output VAT each by the rate applied to the discount's share.
pub fn discount_vat(
    invoice: &Invoice,
    discount: Decimal,
    rules: &VatRules,
    cash_discount: &str,
    input_vat: &str,
    input_vat_rates: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<VatPosting>, VatRefused> {
    let deducted = invoice_vat(invoice, rules, input_vat, input_vat_rates)?;
    /// A breakdown as the discount sees it: what it asked the buyer to pay, and its VAT postings.
    enum Part<'a> {
        /// Gross, the VAT shown, the input VAT posting.
        Charged(Decimal, Decimal, &'a VatPosting),
        /// Net (all that was paid), the input and the output VAT postings.
        SelfAssessed(Decimal, &'a VatPosting, &'a VatPosting),
        None(Decimal),
    }
    let mut parts: Vec<Part> = Vec::new();
    let mut at = 0;
    for t in &invoice.tax {
        match treatment(t.category.as_deref()) {
            Treatment::Charged => {
                parts.push(match deducted.get(at) {
                    Some(p) => Part::Charged(t.taxable_amount + t.tax_amount, t.tax_amount, p),
                    None => Part::None(t.taxable_amount + t.tax_amount),
                });
                at += 1;
            }
            Treatment::SelfAssessed(_) => {
                parts.push(match (deducted.get(at), deducted.get(at + 1)) {
                    (Some(i), Some(o)) => Part::SelfAssessed(t.taxable_amount, i, o),
                    _ => Part::None(t.taxable_amount),
                });
                at += 2;
            }
            Treatment::None(_) => parts.push(Part::None(t.taxable_amount)),
        }
    }
    let total: Decimal = parts
        .iter()
        .map(|p| match p {
            Part::Charged(g, ..) | Part::SelfAssessed(g, ..) | Part::None(g) => *g,
        })
        .sum();
    let mut out: Vec<VatPosting> = Vec::new();
    let mut vat_total = Decimal::ZERO;
    let mut push = |p: &VatPosting, amount: Decimal| {
        if !amount.is_zero() {
            out.push(VatPosting {
                account: p.account.clone(),
                rate: p.rate.clone(),
                amount,
            });
        }
    };
    if !total.is_zero() {
        for part in &parts {
            match part {
                Part::Charged(gross, tax, posted) if !gross.is_zero() => {
                    let vat = cents(discount * gross / total * tax / gross);
                    vat_total += vat;
                    push(posted, -vat);
                }
                // The base the buyer owes VAT on is smaller by the discount: both sides less.
                Part::SelfAssessed(net, input, output) => {
                    let share = discount * net / total;
                    let owed = input.amount;
                    let less = if net.is_zero() {
                        Decimal::ZERO
                    } else {
                        cents(share * owed / net)
                    };
                    push(input, -less);
                    push(output, less);
                }
                _ => {}
            }
        }
    }
    out.insert(
        0,
        VatPosting {
            account: cash_discount.to_string(),
            rate: String::new(),
            amount: -(discount - vat_total),
        },
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::model::invoice::InvoiceKind;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn part(category: &str, rate: &str, base: &str, tax: &str) -> TaxBreakdown {
        TaxBreakdown {
            category: Some(category.into()),
            rate: Some(d(rate)),
            taxable_amount: d(base),
            tax_amount: d(tax),
        }
    }

    fn invoice(supplier_vat: &str, tax: Vec<TaxBreakdown>) -> Invoice {
        Invoice {
            kind: InvoiceKind::Invoice,
            number: "INV-1".into(),
            issue_date: "2026-11-02".parse().unwrap(),
            due_date: None,
            currency: "EUR".parse().unwrap(),
            supplier: Party {
                name: Some("Supplier".into()),
                vat_id: Some(supplier_vat.into()),
                ..Party::default()
            },
            customer: Party {
                vat_id: Some("DE811111111".into()),
                ..Party::default()
            },
            order_reference: None,
            payment_reference: None,
            preceding_invoice: None,
            lines: Vec::new(),
            allowances: Vec::new(),
            charges: Vec::new(),
            tax,
            line_total: None,
            allowance_total: None,
            charge_total: None,
            tax_exclusive: None,
            tax_total: None,
            tax_inclusive: None,
            prepaid: None,
            rounding: None,
            payable: Decimal::ZERO,
            cash_discount: None,
            source: Source::at(Arc::from("f"), None, 1),
        }
    }

    fn skr03() -> VatRules {
        let code = |category: &str, supplier: Option<Location>, i: &str, o: &str| TaxCode {
            category: category.into(),
            rate: Some(d("19")),
            supplier,
            input_vat: i.into(),
            output_vat: Some(o.into()),
        };
        VatRules {
            codes: vec![
                code("AE", None, "1577", "1787"),
                code("K", Some(Location::Eu), "1572", "1772"),
            ],
            home_country: Some("DE".into()),
            cash_discount: Some("3730".into()),
        }
    }

    fn rates() -> BTreeMap<String, String> {
        [("7".to_string(), "1571".to_string())].into()
    }

    fn postings(v: &[VatPosting]) -> Vec<(&str, Decimal)> {
        v.iter().map(|p| (p.account.as_str(), p.amount)).collect()
    }

    #[test]
    fn where_the_supplier_sits_comes_from_countries_or_vat_ids() {
        let rules = skr03();
        let at = |vat: &str| supplier_location(&invoice(vat, vec![]), &rules);
        assert_eq!(at("DE123456789"), Some(Location::Domestic));
        assert_eq!(at("ATU12345678"), Some(Location::Eu));
        assert_eq!(at("EL123456789"), Some(Location::Eu));
        assert_eq!(at("GB123456789"), Some(Location::ThirdCountry));
        let mut i = invoice("ATU12345678", vec![]);
        i.supplier.country = Some("CH".into());
        assert_eq!(supplier_location(&i, &rules), Some(Location::ThirdCountry));
        // The buyer's country from the job when the invoice does not name it.
        i.customer = Party::default();
        i.supplier.country = None;
        assert_eq!(supplier_location(&i, &rules), Some(Location::Eu));
        assert_eq!(supplier_location(&i, &VatRules::default()), None);
    }

    #[test]
    fn charged_vat_is_deducted_as_shown_per_rate() {
        let i = invoice(
            "DE123456789",
            vec![
                part("S", "19", "100.00", "19.00"),
                part("S", "7", "50.00", "3.50"),
            ],
        );
        let v = invoice_vat(&i, &skr03(), "1576", &rates()).unwrap();
        assert_eq!(
            postings(&v),
            vec![("1576", d("19.00")), ("1571", d("3.50"))]
        );
        // A cent off the computed VAT is rounding and posted as shown; more is refused.
        let i = invoice("DE1", vec![part("S", "19", "100.00", "19.01")]);
        let v = invoice_vat(&i, &skr03(), "1576", &rates()).unwrap();
        assert_eq!(v[0].amount, d("19.01"));
        let i = invoice("DE1", vec![part("S", "19", "100.00", "19.50")]);
        let e = invoice_vat(&i, &skr03(), "1576", &rates()).unwrap_err();
        assert!(
            e.to_string()
                .contains("the VAT shown at 19 % is 19.50, but 19 % of 100.00 is 19.00"),
            "{e}"
        );
    }

    #[test]
    fn a_tax_code_names_the_account_of_a_charged_rate() {
        let mut rules = skr03();
        rules.codes.push(TaxCode {
            category: "S".into(),
            rate: Some(d("7")),
            supplier: Some(Location::Domestic),
            input_vat: "1570".into(),
            output_vat: None,
        });
        let i = invoice(
            "DE1",
            vec![
                part("S", "19", "100.00", "19.00"),
                part("S", "7", "50.00", "3.50"),
            ],
        );
        let v = invoice_vat(&i, &rules, "1576", &rates()).unwrap();
        assert_eq!(
            postings(&v),
            vec![("1576", d("19.00")), ("1570", d("3.50"))]
        );
    }

    #[test]
    fn reverse_charge_posts_both_sides_at_the_rate_owed() {
        let i = invoice("ATU12345678", vec![part("AE", "0", "1000.00", "0")]);
        let v = invoice_vat(&i, &skr03(), "1576", &rates()).unwrap();
        assert_eq!(
            postings(&v),
            vec![("1577", d("190.00")), ("1787", d("-190.00"))]
        );
        // Intra-community acquisition of goods from an EU supplier.
        let i = invoice("FR12345678901", vec![part("K", "0", "200.00", "0")]);
        let v = invoice_vat(&i, &skr03(), "1576", &rates()).unwrap();
        assert_eq!(
            postings(&v),
            vec![("1572", d("38.00")), ("1772", d("-38.00"))]
        );
        // K from a supplier outside the EU: no entry applies, a person decides.
        let i = invoice("CHE123456789", vec![part("K", "0", "200.00", "0")]);
        let e = invoice_vat(&i, &skr03(), "1576", &rates()).unwrap_err();
        assert!(
            e.to_string().contains("from a supplier outside the EU"),
            "{e}"
        );
        // Without tax codes a reverse-charge invoice is refused, never booked without its VAT.
        let i = invoice("ATU12345678", vec![part("AE", "0", "1000.00", "0")]);
        let e = invoice_vat(&i, &VatRules::default(), "1576", &rates()).unwrap_err();
        assert!(
            matches!(e, VatRefused::NoSelfAssessment { .. }) && e.to_string().contains("AE"),
            "{e}"
        );
        // A reverse-charge invoice that charges VAT is wrong.
        let i = invoice("ATU12345678", vec![part("AE", "19", "1000.00", "190.00")]);
        assert!(matches!(
            invoice_vat(&i, &skr03(), "1576", &rates()),
            Err(VatRefused::VatWhereNoneIsDue { .. })
        ));
    }

    #[test]
    fn exempt_zero_rated_and_out_of_scope_post_no_vat() {
        for category in ["E", "Z", "G", "O"] {
            let i = invoice("DE1", vec![part(category, "0", "500.00", "0")]);
            assert_eq!(invoice_vat(&i, &skr03(), "1576", &rates()), Ok(vec![]));
            let i = invoice("DE1", vec![part(category, "0", "500.00", "5.00")]);
            assert!(invoice_vat(&i, &skr03(), "1576", &rates()).is_err());
        }
    }

    #[test]
    fn a_cash_discount_takes_back_the_vat_in_proportion() {
        // 100.00 at 19 % and 50.00 at 7 %: 172.50 gross, 2 % discount 3.45.
        let i = invoice(
            "DE1",
            vec![
                part("S", "19", "100.00", "19.00"),
                part("S", "7", "50.00", "3.50"),
            ],
        );
        let v = discount_vat(&i, d("3.45"), &skr03(), "3730", "1576", &rates()).unwrap();
        // 19 %: share 2.38 of which VAT 0.38; 7 %: share 1.07, VAT 0.07; net 3.00.
        assert_eq!(
            postings(&v),
            vec![
                ("3730", d("-3.00")),
                ("1576", d("-0.38")),
                ("1571", d("-0.07"))
            ]
        );
        let sum: Decimal = v.iter().map(|p| p.amount).sum();
        assert_eq!(sum, d("-3.45"));
        // Reverse charge: the whole discount is net, and the VAT owed and deducted both fall.
        let i = invoice("ATU12345678", vec![part("AE", "0", "1000.00", "0")]);
        let v = discount_vat(&i, d("20.00"), &skr03(), "3730", "1576", &rates()).unwrap();
        assert_eq!(
            postings(&v),
            vec![
                ("3730", d("-20.00")),
                ("1577", d("-3.80")),
                ("1787", d("3.80"))
            ]
        );
        // An exempt invoice's discount is all net.
        let i = invoice("DE1", vec![part("E", "0", "100.00", "0")]);
        let v = discount_vat(&i, d("2.00"), &skr03(), "3730", "1576", &rates()).unwrap();
        assert_eq!(postings(&v), vec![("3730", d("-2.00"))]);
    }
}
