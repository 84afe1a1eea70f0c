//! `/proc/<pid>/mountinfo` fields, shared by the snapshot's change walk and the overlay
//! copies' mount checks.

/// A field with its octal escapes undone (`\040` for a space, `\011` tab, `\012`
/// newline, `\134` backslash); anything else is kept as it is.
pub(crate) fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal =
            field.get(i + 1..i + 4).filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn escapes_are_undone_and_anything_else_kept() {
        assert_eq!(unescape(br"/a\040b\011c\134d\134"), b"/a b\tc\\d\\");
        assert_eq!(unescape(br"/x\04"), b"/x\\04");
        assert_eq!(unescape(b"a\\011b\\134c\\12"), b"a\tb\\c\\12".to_vec());
    }
}
