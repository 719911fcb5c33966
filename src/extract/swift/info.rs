//! `:86:` information to the account owner: the text whole, and the parts banks structure.
//!
//! **Joining lines.** A line break in `:86:` means one of two things. Where the bank's
//! software filled a line to its width, the break is a wrap: SWIFT's lines hold 65 characters
//! and banks wrap wherever the width runs out, mid-word and mid-reference (`…XXXXSTR` /
//! `ASSE 111`, `BETALINGSKENM.  000000042188659` / `5314606715…`); the two lines are one text,
//! concatenated, so a reference cut by the wrap is found whole by the matcher. Where a line is
//! shorter, the bank ended it on purpose (a name, then an address; a reference, then the
//! purpose): the lines are separate words, joined with one space, so `…VOM 02.03.2026` /
//! `KUNDE AG` does not become `2026KUNDE`. A line counts as filled when it is as long as the
//! field's longest line and that width is a line width banks fill: 64 or more (the standard's
//! 65; ABN AMRO writes two columns of 32), or a narrower fixed width (27 or more: Raiffeisen
//! wraps at 35) that at least two lines reach.
//!
//! Structured text is concatenated across every line break: German subfields (`?20`…, the
//! subfield codes say where each part starts, and banks cut the 27-character parts anywhere)
//! and slash keywords (`/REMI/…/EREF/…`, the keywords delimit). Several `:86:` fields for one
//! entry (old Rabobank exports write one per line) are joined with a space.
//!
//! Three structures are recognised:
//! - German DFÜ subfields (`GVC?00…?20…?63`, Triodos writes `>` for `?`): the three-digit
//!   GVC, `?20`–`?29` and `?60`–`?63` remittance lines, `?30` BIC, `?31` IBAN, `?32`/`?33`
//!   name. Inside the remittance lines: SEPA keywords `EREF+`, `MREF+`, `CRED+`, `SVWZ+`, …
//!   The entry's remittance text is the decoded purpose, not the raw text with its codes.
//! - Slash keywords of Dutch and Belgian banks: `/TRTP/…/IBAN/…/BIC/…/NAME/…/REMI/…/EREF/…`.
//! - SEPA keywords in otherwise free text.
//!
//! `NOTPROVIDED` (SEPA's word for "no end-to-end id") is not an end-to-end id.

use crate::model::ids::iban_shaped;
use crate::model::statement::EntryDetails;

/// Below this width a line is never taken as filled: deliberate short lines (names, towns)
/// often share a length.
const NARROWEST_WRAP: usize = 27;
/// A line this long is filled (ABN AMRO's 64, the standard's 65).
const FULL_LINE: usize = 64;

/// The lines of one `:86:` value joined as the format means them (see the module comment),
/// with the spaces around the whole trimmed.
pub(super) fn join_lines(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    if is_structured(value.trim_start()) {
        for line in value.split('\n') {
            out.push_str(line);
        }
    } else {
        let lines: Vec<&str> = value.split('\n').collect();
        let len = |l: &&str| l.chars().count();
        let widest = lines.iter().map(len).max().unwrap_or(0);
        let at_widest = lines.iter().filter(|l| len(l) == widest).count();
        let filled_width =
            (widest >= FULL_LINE || (widest >= NARROWEST_WRAP && at_widest >= 2)).then_some(widest);
        let mut wrapped = false;
        for line in lines {
            if wrapped {
                out.push_str(line);
            } else if !line.trim().is_empty() {
                out.truncate(out.trim_end().len());
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(line.trim_start());
            }
            wrapped = Some(len(&line)) == filled_width;
        }
    }
    let end = out.trim_end().len();
    out.truncate(end);
    out.drain(..out.len() - out.trim_start().len());
    out
}

/// German subfields (`NNN?00`, `NNN>20`, or `?20` without the transaction code) or slash
/// keywords (`/TRTP/…`).
fn is_structured(t: &str) -> bool {
    let b = t.as_bytes();
    let subfield = |i: usize| {
        matches!(b.get(i), Some(b'?' | b'>'))
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && b.get(i + 2).is_some_and(u8::is_ascii_digit)
    };
    (b.len() >= 6 && b[..3].iter().all(u8::is_ascii_digit) && subfield(3))
        || (b.first() == Some(&b'?') && subfield(0))
        || slash_key_at(b, 0).is_some()
}

/// Reads a joined `:86:` text: the remittance text and what structure there is. The
/// remittance is the text as written, except for German subfields, where it is the decoded
/// purpose (see [`german`]).
pub(super) fn read(text: &str) -> (String, EntryDetails) {
    let (remittance, mut d) = read_structure(text);
    if d.return_reason.is_none() {
        d.return_reason = return_reason(text);
    }
    (remittance, d)
}

fn read_structure(text: &str) -> (String, EntryDetails) {
    let t = text.trim_start();
    if let Some(g) = german(t) {
        return g;
    }
    if let Some(d) = slashed(t) {
        return (text.to_owned(), d);
    }
    let mut d = EntryDetails::default();
    let kw = sepa_keywords(t, &[0]);
    if !kw.is_empty() {
        apply_sepa(&mut d, t, &kw, &[]);
    }
    (text.to_owned(), d)
}

/// SEPA return reason codes (EPC "R-transactions" guidance) that banks quote in the `:86:` of
/// a returned payment.
const RETURN_REASONS: [&str; 24] = [
    "AC01", "AC04", "AC06", "AC13", "AG01", "AG02", "AM04", "AM05", "BE04", "BE05", "CNOR", "DNOR",
    "FF01", "MD01", "MD02", "MD06", "MD07", "MS02", "MS03", "RC01", "RR01", "RR02", "RR03", "SL01",
];

/// Words that say a line is a returned payment, in the languages of the banks clerk reads.
const RETURN_WORDS: [&str; 7] = [
    "RTRN",
    "RETURN",
    "RETOURE",
    "RUECK",
    "RÜCK",
    "STORNO",
    "TERUGBOEKING",
];

/// The SEPA reason code of a returned payment, where the `:86:` text shows one: only when the
/// text also says it is a return (`RTRN`, `RETURN`, `RÜCKÜBERWEISUNG`, ...), so an `AC04` in
/// an invoice number is not taken for one.
fn return_reason(text: &str) -> Option<String> {
    let upper = text.to_uppercase();
    if !RETURN_WORDS.iter().any(|w| upper.contains(w)) {
        return None;
    }
    upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| RETURN_REASONS.contains(w))
        .map(str::to_owned)
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn end_to_end(s: &str) -> Option<String> {
    non_empty(s).filter(|s| !s.eq_ignore_ascii_case("NOTPROVIDED"))
}

/// `XXXXCCLLBBB`: four letters (bank), two letters (country), two alphanumerics, an optional
/// branch.
pub(super) fn looks_like_bic(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..].iter().all(u8::is_ascii_alphanumeric)
}

/// A counterparty's IBAN as written, in its electronic form (`DE89370400440532013000`) or
/// print form (groups of four: `DE89 3704 0044 0532 0130 00`), without the spaces. A wrong
/// check digit is kept, not dropped: the account is what the bank wrote, and the daemon
/// reports it (`bad_check_digit`) instead of matching on a silently missing counterparty.
fn iban(s: &str) -> Option<String> {
    let s = s.trim();
    let groups: Vec<&str> = s.split(' ').collect();
    let (last, full) = groups.split_last()?;
    let print_form = full.iter().all(|g| g.len() == 4) && (1..=4).contains(&last.len());
    let compact = if print_form {
        groups.concat()
    } else {
        s.to_owned()
    };
    iban_shaped(&compact).then_some(compact)
}

fn bic(s: &str) -> Option<String> {
    let s = s.trim();
    looks_like_bic(s).then(|| s.to_owned())
}

/// German subfields (the DFÜ agreement's layout): `NNN?00…`, `NNN>00…` (Triodos writes `>`
/// for `?`) or `?20…` without the three-digit transaction code (GVC). Returns the remittance
/// text, which is the decoded purpose: the purpose subfields `?20`–`?29` then `?60`–`?63` in
/// that order, without their codes (a SEPA keyword that opens a subfield after text gets a
/// space before it); without any, the posting text `?00`. The details: the GVC, `?30` BIC,
/// `?31` IBAN, `?32`/`?33` name, and what the SEPA keywords in the purpose say.
fn german(t: &str) -> Option<(String, EntryDetails)> {
    let b = t.as_bytes();
    let at = |i: usize, sep: u8| {
        b.get(i) == Some(&sep)
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && b.get(i + 2).is_some_and(u8::is_ascii_digit)
    };
    let (gvc, first) = if b.len() >= 6 && b[..3].iter().all(u8::is_ascii_digit) {
        (Some(&t[..3]), 3)
    } else {
        (None, 0)
    };
    let sep = *b.get(first)?;
    if !(sep == b'?' || sep == b'>') || !at(first, sep) || (gvc.is_none() && sep == b'>') {
        return None;
    }
    let mut d = EntryDetails {
        purpose_code: gvc.map(str::to_owned),
        ..EntryDetails::default()
    };
    // Subfield markers: separator followed by two digits.
    let mut marks = Vec::new();
    let mut i = first;
    while i + 2 < b.len() {
        if b[i] == sep && b[i + 1].is_ascii_digit() && b[i + 2].is_ascii_digit() {
            marks.push(i);
            i += 3;
        } else {
            i += 1;
        }
    }
    // Purpose subfields by their place: ?20…?29 are 0…9, ?60…?63 are 10…13.
    let mut purpose: Vec<(u32, &str)> = Vec::new();
    let (mut posting, mut bic30, mut acct31, mut name) = (None, None, None, String::new());
    for (k, &m) in marks.iter().enumerate() {
        let end = marks.get(k + 1).copied().unwrap_or(t.len());
        let code = &t[m + 1..m + 3];
        let v = &t[m + 3..end];
        match code.parse::<u32>().unwrap_or(99) {
            n @ 20..=29 => purpose.push((n - 20, v)),
            n @ 60..=63 => purpose.push((n - 50, v)),
            0 => posting = Some(v),
            30 => bic30 = Some(v),
            31 => acct31 = Some(v),
            32 | 33 => name.push_str(v),
            _ => {}
        }
    }
    purpose.sort_by_key(|&(ord, _)| ord);
    let mut remittance = String::new();
    let mut starts = Vec::new();
    // Where the purpose skips a subfield (`?20` then `?60`): a keyword's value ends there.
    let mut gaps = Vec::new();
    let mut last: Option<u32> = None;
    for &(ord, v) in &purpose {
        if last.is_some_and(|l| l + 1 != ord) {
            gaps.push(remittance.len());
        }
        last = Some(ord);
        let opens_keyword = SEPA
            .iter()
            .any(|k| v.strip_prefix(k).is_some_and(|r| r.starts_with('+')));
        if opens_keyword && !remittance.is_empty() && !remittance.ends_with(' ') {
            remittance.push(' ');
        }
        starts.push(remittance.len());
        remittance.push_str(v);
    }
    d.counterparty_name = non_empty(&name);
    d.counterparty_bic = bic30.and_then(bic);
    d.counterparty_iban = acct31.and_then(iban);
    let kw = sepa_keywords(&remittance, &starts);
    if kw.is_empty() {
        d.purpose = non_empty(&remittance);
    } else {
        apply_sepa(&mut d, &remittance, &kw, &gaps);
    }
    let remittance = match non_empty(&remittance) {
        Some(r) => r,
        None => posting.and_then(non_empty).unwrap_or_default(),
    };
    Some((remittance, d))
}

const SEPA: [&str; 13] = [
    "EREF", "KREF", "MREF", "CRED", "DEBT", "SVWZ", "ABWA", "ABWE", "IBAN", "BIC", "COAM", "OAMT",
    "PURP",
];

/// SEPA keywords (`EREF+`) in `t`: at a subfield start (`starts`), or after a character that
/// is not a letter or digit. Returns (keyword, start of keyword, start of value).
fn sepa_keywords<'k>(t: &str, starts: &[usize]) -> Vec<(&'k str, usize, usize)> {
    let b = t.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'+', &b[i..]) {
        let plus = i + p;
        i = plus + 1;
        if plus < 3 || !b[plus - 1].is_ascii_uppercase() {
            continue;
        }
        for k in SEPA {
            let Some(at) = plus.checked_sub(k.len()) else {
                continue;
            };
            if &b[at..plus] == k.as_bytes()
                && (at == 0 || starts.contains(&at) || !b[at - 1].is_ascii_alphanumeric())
            {
                out.push((k, at, plus + 1));
                break;
            }
        }
    }
    out
}

fn apply_sepa(d: &mut EntryDetails, t: &str, kw: &[(&str, usize, usize)], gaps: &[usize]) {
    let before = &t[..kw[0].1];
    let mut purpose = None;
    let mut orphan = None;
    let (mut abwa, mut kw_iban, mut kw_bic) = (None, None, None);
    for (k, (key, _, vstart)) in kw.iter().enumerate() {
        let next = kw.get(k + 1).map_or(t.len(), |n| n.1);
        // A value ends at the next keyword or where the subfields skip a number; text after
        // such a gap that no keyword claims is remittance text.
        let end = gaps
            .iter()
            .copied()
            .find(|&g| g > *vstart && g < next)
            .unwrap_or(next);
        if end < next && orphan.is_none() {
            orphan = non_empty(&t[end..next]);
        }
        let v = &t[*vstart..end];
        match *key {
            "EREF" => d.end_to_end_id = end_to_end(v),
            "MREF" => d.mandate_id = non_empty(v),
            "CRED" => d.creditor_id = non_empty(v),
            "SVWZ" => purpose = non_empty(v),
            "ABWA" | "ABWE" => abwa = abwa.or_else(|| non_empty(v)),
            "IBAN" => kw_iban = kw_iban.or_else(|| iban(v)),
            "BIC" => kw_bic = kw_bic.or_else(|| bic(v)),
            _ => {}
        }
    }
    d.purpose = purpose.or_else(|| non_empty(before)).or(orphan);
    if d.counterparty_name.is_none() {
        d.counterparty_name = abwa;
    }
    if d.counterparty_iban.is_none() {
        d.counterparty_iban = kw_iban;
    }
    if d.counterparty_bic.is_none() {
        d.counterparty_bic = kw_bic;
    }
}

const SLASH: [&str; 31] = [
    "TRTP",
    "IBAN",
    "BIC",
    "NAME",
    "REMI",
    "EREF",
    "ORDP",
    "BENM",
    "CSID",
    "MARF",
    "ISDT",
    "PREF",
    "RTRN",
    "ID",
    "ADDR",
    "CNTP",
    "SVCL",
    "ULTD",
    "ULTC",
    "ULTB",
    "PURP",
    "OCMT",
    "CHGS",
    "EXCH",
    "IREF",
    "KREF",
    "BBAN",
    "CDTRREFTP",
    "CDTRREF",
    "RFB",
    "ISSR",
];

/// The slash keyword (`/REMI/`) whose opening slash is at `p`.
fn slash_key_at(b: &[u8], p: usize) -> Option<&'static str> {
    if b.get(p) != Some(&b'/') {
        return None;
    }
    SLASH.into_iter().find(|k| {
        b.get(p + 1..p + 1 + k.len()) == Some(k.as_bytes()) && b.get(p + 1 + k.len()) == Some(&b'/')
    })
}

/// Slash keywords (`/TRTP/…/NAME/…/REMI/…`): the text must start with a known one.
fn slashed(t: &str) -> Option<EntryDetails> {
    let b = t.as_bytes();
    let key_at = |p: usize| slash_key_at(b, p);
    key_at(0)?;
    // (key, start of marker, start of value)
    let mut marks = Vec::new();
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'/', &b[i..]) {
        let p = i + p;
        match key_at(p) {
            Some(k) => {
                marks.push((k, p, p + k.len() + 2));
                // The closing slash may open the next keyword (`/ORDP//NAME/`).
                i = p + k.len() + 1;
            }
            None => i = p + 1,
        }
    }
    let mut d = EntryDetails::default();
    for (k, &(key, _, vstart)) in marks.iter().enumerate() {
        let end = marks.get(k + 1).map_or(t.len(), |n| n.1).max(vstart);
        let v = t[vstart..end].trim();
        let v = if k + 1 == marks.len() {
            v.strip_suffix('/').unwrap_or(v)
        } else {
            v
        };
        match key {
            "NAME" => d.counterparty_name = d.counterparty_name.take().or_else(|| non_empty(v)),
            "IBAN" => d.counterparty_iban = d.counterparty_iban.take().or_else(|| iban(v)),
            "BIC" => d.counterparty_bic = d.counterparty_bic.take().or_else(|| bic(v)),
            "REMI" => d.purpose = d.purpose.take().or_else(|| non_empty(v)),
            "EREF" => d.end_to_end_id = d.end_to_end_id.take().or_else(|| end_to_end(v)),
            "MARF" => d.mandate_id = d.mandate_id.take().or_else(|| non_empty(v)),
            "CSID" => d.creditor_id = d.creditor_id.take().or_else(|| non_empty(v)),
            "PURP" => d.purpose_code = d.purpose_code.take().or_else(|| non_empty(v)),
            // Rabobank: `/CNTP/account/BIC/name/city/`.
            "CNTP" => {
                let mut parts = v.split('/');
                let (a, b, n) = (parts.next(), parts.next(), parts.next());
                d.counterparty_iban = d.counterparty_iban.take().or_else(|| a.and_then(iban));
                d.counterparty_bic = d.counterparty_bic.take().or_else(|| b.and_then(bic));
                d.counterparty_name = d.counterparty_name.take().or_else(|| n.and_then(non_empty));
            }
            _ => {}
        }
    }
    Some(d)
}

/// An IBAN in a `:61:` supplementary line (Rabobank writes the counterparty's account there).
pub(super) fn supplementary_iban(s: &str) -> Option<String> {
    iban(s.trim())
}

#[cfg(test)]
mod return_tests {
    use super::read;

    #[test]
    fn a_return_keeps_its_sepa_reason_and_an_invoice_number_is_not_one() {
        let german = "159?00RETOURE?20SVWZ+RETOURE AC04 INV-4711?32ACME GMBH";
        assert_eq!(read(german).1.return_reason.as_deref(), Some("AC04"));
        let dutch = "/RTRN/MD06/EREF/E2E-1/NAME/ACME BV/REMI/INV-4711/";
        assert_eq!(read(dutch).1.return_reason.as_deref(), Some("MD06"));
        let paid = "166?00GUTSCHRIFT?20SVWZ+INVOICE AC04-77";
        assert_eq!(read(paid).1.return_reason, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> EntryDetails {
        read(&join_lines(text)).1
    }

    #[test]
    fn german_subfields_with_sepa_keywords_across_lines() {
        let got = d(
            "105?00Basislastschrift?10931?20EREF+123/123/12345-----L110\n\
                     ?211234567890123 ?22MREF+BYA12345678901\n\
                     ?23CRED+DE99ZZZ00000012345 ?24SVWZ+STEUERNR 123/123/12345\n\
                     ?30BYLADEMM\n?31DE99700500000000012345?32Finanzamt Muenchen Abteilun\n\
                     ?33g Erhebung?34992",
        );
        assert_eq!(got.purpose_code.as_deref(), Some("105"));
        assert_eq!(
            got.end_to_end_id.as_deref(),
            Some("123/123/12345-----L1101234567890123")
        );
        assert_eq!(got.mandate_id.as_deref(), Some("BYA12345678901"));
        assert_eq!(got.creditor_id.as_deref(), Some("DE99ZZZ00000012345"));
        assert_eq!(got.purpose.as_deref(), Some("STEUERNR 123/123/12345"));
        assert_eq!(got.counterparty_bic.as_deref(), Some("BYLADEMM"));
        // A wrong check digit: kept as written (the daemon reports it).
        assert_eq!(
            got.counterparty_iban.as_deref(),
            Some("DE99700500000000012345")
        );
        assert_eq!(
            got.counterparty_name.as_deref(),
            Some("Finanzamt Muenchen Abteilung Erhebung")
        );
    }

    #[test]
    fn german_subfields_plain_remittance_and_keyword_split_over_subfields() {
        let got = d(
            "051?00UEBERWEISUNG?100599?20Gehalt Oktob\ner\n?21Firma\nMustermann GmbH?3050060400?31DE89370400440532013000?32MUELLER?34339",
        );
        assert_eq!(
            got.purpose.as_deref(),
            Some("Gehalt OktoberFirmaMustermann GmbH")
        );
        assert_eq!(
            got.counterparty_iban.as_deref(),
            Some("DE89370400440532013000")
        );
        assert_eq!(got.counterparty_bic, None, "a BLZ is not a BIC");
        let got = d(
            "835?20Cie., S.C.A.?21SEPA-BASISLASTSCHRIFT?22EREF+ 1234567890123 PAYPAL?23MREF+ 12AB234CD6E7F CRED+ A?24B12CDE0000000000000000034 S?25VWZ+ . SPOTIFY, Ihr Einkauf?26bei SPOTIFY?32PayPal (Europe) S.a.r.l. et",
        );
        assert_eq!(got.end_to_end_id.as_deref(), Some("1234567890123 PAYPAL"));
        assert_eq!(
            got.creditor_id.as_deref(),
            Some("AB12CDE0000000000000000034")
        );
        assert_eq!(
            got.purpose.as_deref(),
            Some(". SPOTIFY, Ihr Einkaufbei SPOTIFY")
        );
        let got = d(
            "171?00SEPA LASTSCHRIFT KUNDE?10281?20KREF+EREF+TRX-0A4A47C3-F846-4729?21-8A1B-5DF620F",
        );
        assert_eq!(
            got.end_to_end_id.as_deref(),
            Some("TRX-0A4A47C3-F846-4729-8A1B-5DF620F")
        );
    }

    #[test]
    fn triodos_writes_greater_than_for_question_mark() {
        let got = d("000>100987654321\n>20ALGEMENE TUSSENREKENING KOS>21TEN VAN 01-10-2010");
        assert_eq!(got.purpose_code.as_deref(), Some("000"));
        assert_eq!(
            got.purpose.as_deref(),
            Some("ALGEMENE TUSSENREKENING KOSTEN VAN 01-10-2010")
        );
    }

    #[test]
    fn slash_keywords_of_dutch_banks() {
        let got = d(
            "/TRTP/SEPA OVERBOEKING/IBAN/NL91ABNA0417164300/BIC/INGBNL2A/NAME/\n\
                     HR K XXXXXXX EN/OF MW H XXXXXXX/REMI/RES.NR 00042/EREF/NOTPROV\nIDED",
        );
        assert_eq!(got.counterparty_iban.as_deref(), Some("NL91ABNA0417164300"));
        assert_eq!(got.counterparty_bic.as_deref(), Some("INGBNL2A"));
        assert_eq!(
            got.counterparty_name.as_deref(),
            Some("HR K XXXXXXX EN/OF MW H XXXXXXX")
        );
        assert_eq!(got.purpose.as_deref(), Some("RES.NR 00042"));
        assert_eq!(got.end_to_end_id, None, "NOTPROVIDED is no id");
        let got = d(
            "/TRTP/SEPA INCASSO ALGEMEEN DOORLOPEND/CSID/NL36ZZZ123456780000\n/NAME/XXXXXXXX B.V./MARF/000000059990/REMI//INV/1511682351 1.1\n2.2016/IBAN/NL91ABNA0417164300/BIC/DEUTNL2AXXX/EREF/0123456789123\n61000",
        );
        assert_eq!(got.creditor_id.as_deref(), Some("NL36ZZZ123456780000"));
        assert_eq!(got.mandate_id.as_deref(), Some("000000059990"));
        assert_eq!(got.purpose.as_deref(), Some("/INV/1511682351 1.12.2016"));
        assert_eq!(got.end_to_end_id.as_deref(), Some("012345678912361000"));
        assert_eq!(got.counterparty_bic.as_deref(), Some("DEUTNL2AXXX"));
        let got = d(
            "/ORDP//NAME/Bedrijf B.V./REMI/NR.201303-111/11.3.2013\nNR.201303-112/11.3.2013/ISDT/2013-04-03",
        );
        assert_eq!(got.counterparty_name.as_deref(), Some("Bedrijf B.V."));
        assert_eq!(
            got.purpose.as_deref(),
            Some("NR.201303-111/11.3.2013NR.201303-112/11.3.2013")
        );
        let got = d("/CNTP/NL91ABNA0417164300/ABNANL2A/J Jansen/AMSTERDAM/REMI/USTD//factuur 12/");
        assert_eq!(got.counterparty_iban.as_deref(), Some("NL91ABNA0417164300"));
        assert_eq!(got.counterparty_name.as_deref(), Some("J Jansen"));
        assert_eq!(got.purpose.as_deref(), Some("USTD//factuur 12"));
    }

    #[test]
    fn sepa_keywords_in_free_text_and_plain_text() {
        let got = d("EREF+E2E-1 MREF+M-7 CRED+DE98ZZZ09999999999 SVWZ+Rechnung 4711");
        assert_eq!(got.end_to_end_id.as_deref(), Some("E2E-1"));
        assert_eq!(got.mandate_id.as_deref(), Some("M-7"));
        assert_eq!(got.purpose.as_deref(), Some("Rechnung 4711"));
        assert_eq!(d("GIRO 428428 KPN BV"), EntryDetails::default());
        assert_eq!(d("PROFIT+LOSS"), EntryDetails::default());
    }
}
