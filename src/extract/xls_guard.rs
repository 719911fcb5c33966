//! A look at an XLS file's declared sheet dimensions before calamine opens it.
//!
//! calamine reserves memory for `rows × columns` cells as each sheet's DIMENSIONS record
//! declares them, while it opens the workbook. A damaged or hostile file that declares
//! billions of cells makes that reservation fail, and a failed allocation aborts the whole
//! process: no error to catch. So clerk reads the records itself first, with every offset
//! checked: the compound file (CFB) container, the `Workbook` (or `Book`) stream in it, and the
//! BIFF records of that stream.
//!
//! calamine also follows the container's sector chains without noticing a loop: a chain that
//! points back into itself makes it append the same sectors until memory runs out (found by
//! fuzzing, 5 KB of input asking for 2 GB). So every chain calamine will follow is walked here
//! first, and a file with a looping chain is refused as damaged.

/// End of a sector chain, and the markers that are no sector at all.
const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
const MAX_REGULAR_SECTOR: u32 = 0xFFFF_FFFA;

const LOOP: &str = "the workbook is damaged: its allocation table chain loops back on itself";

/// BIFF record type of DIMENSIONS.
const DIMENSIONS: u16 = 0x0200;

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The compound file's geometry and allocation tables.
struct Cfb<'a> {
    file: &'a [u8],
    sector_shift: u32,
    fat: Vec<u32>,
}

impl<'a> Cfb<'a> {
    /// `Ok(None)`: not a container this guard can read (calamine will refuse it too);
    /// `Err`: a container whose allocation chains loop.
    fn open(file: &'a [u8]) -> Result<Option<Self>, String> {
        match Self::open_inner(file) {
            Some(Ok(c)) => Ok(Some(c)),
            Some(Err(why)) => Err(why),
            None => Ok(None),
        }
    }

    fn open_inner(file: &'a [u8]) -> Option<Result<Self, String>> {
        let sector_shift = u32::from(u16_at(file, 0x1E)?);
        if !(7..=16).contains(&sector_shift) {
            return None;
        }
        let sector_size = 1usize << sector_shift;
        let n_fat = u32_at(file, 0x2C)? as usize;
        // The FAT sectors: the first 109 listed in the header, the rest in the DIFAT chain.
        let mut fat_sectors: Vec<u32> = (0..109)
            .filter_map(|i| u32_at(file, 0x4C + 4 * i))
            .filter(|&s| s <= MAX_REGULAR_SECTOR)
            .collect();
        let mut difat = u32_at(file, 0x44)?;
        let max_sectors = file.len() >> sector_shift;
        let mut hops = 0;
        while difat <= MAX_REGULAR_SECTOR && fat_sectors.len() < n_fat {
            hops += 1;
            if hops > max_sectors {
                return Some(Err(LOOP.into()));
            }
            let start = (difat as usize + 1) << sector_shift;
            let sector = file.get(start..start + sector_size)?;
            let per = sector_size / 4 - 1;
            fat_sectors.extend(
                (0..per)
                    .filter_map(|i| u32_at(sector, 4 * i))
                    .filter(|&s| s <= MAX_REGULAR_SECTOR),
            );
            difat = u32_at(sector, 4 * per)?;
        }
        fat_sectors.truncate(n_fat);
        let mut fat = Vec::with_capacity(fat_sectors.len().min(max_sectors) * sector_size / 4);
        for s in fat_sectors {
            let start = (s as usize + 1) << sector_shift;
            let sector = file.get(start..start + sector_size)?;
            fat.extend((0..sector_size / 4).filter_map(|i| u32_at(sector, 4 * i)));
        }
        Some(Ok(Cfb {
            file,
            sector_shift,
            fat,
        }))
    }

    /// Whether the chain from `start` ends (in `ENDOFCHAIN`, or anywhere calamine stops with
    /// an error) rather than looping.
    fn chain_ends(table: &[u32], start: u32) -> bool {
        let mut s = start;
        for _ in 0..=table.len() {
            match table.get(s as usize) {
                _ if s > MAX_REGULAR_SECTOR => return true,
                None => return true,
                Some(&next) => s = next,
            }
        }
        false
    }

    /// The first looping chain calamine would follow: the directory, the mini FAT, the mini
    /// stream, and every stream named in the directory (big streams through the FAT, small
    /// ones through the mini FAT).
    fn looping_chain(&self) -> Option<&'static str> {
        let fat = &self.fat;
        let dir_start = u32_at(self.file, 0x30)?;
        if !Self::chain_ends(fat, dir_start) {
            return Some("its directory");
        }
        if !Self::chain_ends(fat, u32_at(self.file, 0x3C)?) {
            return Some("its mini allocation table");
        }
        let dir = self.chain(dir_start, self.file.len())?;
        let mini_fat_bytes = self.chain(u32_at(self.file, 0x3C)?, self.file.len())?;
        let mini_fat: Vec<u32> = (0..mini_fat_bytes.len() / 4)
            .filter_map(|i| u32_at(&mini_fat_bytes, 4 * i))
            .collect();
        let cutoff = u32_at(self.file, 0x38)? as usize;
        for e in (0..dir.len() / 128).filter_map(|i| dir.get(i * 128..i * 128 + 128)) {
            let kind = e.get(0x42).copied();
            let (Some(start), Some(len)) = (u32_at(e, 0x74), u32_at(e, 0x78)) else {
                continue;
            };
            match kind {
                // The root entry holds the mini stream, always in big sectors.
                Some(5) if !Self::chain_ends(fat, start) => return Some("its mini stream"),
                Some(2) if (len as usize) >= cutoff && !Self::chain_ends(fat, start) => {
                    return Some("a stream");
                }
                Some(2) if (len as usize) < cutoff && !Self::chain_ends(&mini_fat, start) => {
                    return Some("a small stream");
                }
                _ => {}
            }
        }
        None
    }

    /// The bytes of a chain of regular sectors, at most `limit` of them.
    fn chain(&self, start: u32, limit: usize) -> Option<Vec<u8>> {
        let size = 1usize << self.sector_shift;
        let mut out = Vec::new();
        let mut s = start;
        let mut hops = 0;
        while s != ENDOFCHAIN && out.len() < limit {
            hops += 1;
            if s > MAX_REGULAR_SECTOR || hops > self.fat.len() + 1 {
                return None;
            }
            let at = (s as usize + 1) << self.sector_shift;
            out.extend_from_slice(self.file.get(at..at + size)?);
            s = *self.fat.get(s as usize)?;
        }
        out.truncate(limit);
        Some(out)
    }

    /// The content of the stream named `Workbook` or `Book`.
    fn workbook_stream(&self) -> Option<Vec<u8>> {
        let dir = self.chain(u32_at(self.file, 0x30)?, self.file.len())?;
        let entry = |i: usize| dir.get(i * 128..i * 128 + 128);
        let name_of = |e: &[u8]| -> String {
            let len = usize::from(u16_at(e, 0x40).unwrap_or(0)).min(64);
            let units: Vec<u16> = (0..len / 2)
                .filter_map(|k| u16_at(e, 2 * k))
                .take_while(|&u| u != 0)
                .collect();
            String::from_utf16_lossy(&units)
        };
        let root = entry(0)?;
        let wanted = (0..dir.len() / 128).filter_map(entry).find(|e| {
            e.get(0x42) == Some(&2) && {
                let n = name_of(e);
                n.eq_ignore_ascii_case("Workbook") || n.eq_ignore_ascii_case("Book")
            }
        })?;
        let start = u32_at(wanted, 0x74)?;
        let len = (u32_at(wanted, 0x78)? as usize).min(self.file.len());
        let cutoff = u32_at(self.file, 0x38)? as usize;
        if len >= cutoff {
            return self.chain(start, len);
        }
        // A small stream lives in the mini stream, in 64-byte sectors chained by the mini FAT.
        let mini_stream = self.chain(
            u32_at(root, 0x74)?,
            (u32_at(root, 0x78)? as usize).min(self.file.len()),
        )?;
        let mini_fat_bytes = self.chain(u32_at(self.file, 0x3C)?, self.file.len())?;
        let mini_fat: Vec<u32> = (0..mini_fat_bytes.len() / 4)
            .filter_map(|i| u32_at(&mini_fat_bytes, 4 * i))
            .collect();
        let mini_shift = u32::from(u16_at(self.file, 0x20)?);
        if !(1..=12).contains(&mini_shift) {
            return None;
        }
        let mini_size = 1usize << mini_shift;
        let mut out = Vec::with_capacity(len);
        let mut s = start;
        let mut hops = 0;
        while s != ENDOFCHAIN && out.len() < len {
            hops += 1;
            if s > MAX_REGULAR_SECTOR || hops > mini_fat.len() + 1 {
                return None;
            }
            let at = (s as usize) << mini_shift;
            out.extend_from_slice(mini_stream.get(at..at + mini_size)?);
            s = *mini_fat.get(s as usize)?;
        }
        out.truncate(len);
        Some(out)
    }
}

/// The declared size (rows, columns) of every sheet, as calamine will compute it; `Err`
/// for a declaration calamine would mis-compute (last before first).
fn declared_sizes(stream: &[u8]) -> Vec<Result<(u64, u64), ()>> {
    let mut sizes = Vec::new();
    let mut pos = 0usize;
    while let (Some(typ), Some(len)) = (u16_at(stream, pos), u16_at(stream, pos + 2)) {
        let len = usize::from(len);
        let Some(data) = stream.get(pos + 4..pos + 4 + len) else {
            break;
        };
        if typ == DIMENSIONS {
            let fields = match len {
                10 => (|| {
                    Some((
                        u32::from(u16_at(data, 0)?),
                        u32::from(u16_at(data, 2)?),
                        u32::from(u16_at(data, 4)?),
                        u32::from(u16_at(data, 6)?),
                    ))
                })(),
                14 | 16 => (|| {
                    Some((
                        u32_at(data, 0)?,
                        u32_at(data, 4)?,
                        u32::from(u16_at(data, 8)?),
                        u32::from(u16_at(data, 10)?),
                    ))
                })(),
                _ => None,
            };
            if let Some((first_row, row_end, mut first_col, col_end)) = fields {
                // As calamine reads it: the ends are exclusive, a bad first column is 0.
                if first_col > 0xFF || col_end < first_col {
                    first_col = 0;
                }
                if row_end >= 1 && col_end >= 1 {
                    if row_end - 1 < first_row {
                        sizes.push(Err(()));
                    } else {
                        sizes.push(Ok((
                            u64::from(row_end - first_row),
                            u64::from(col_end - first_col),
                        )));
                    }
                }
            }
        }
        pos += 4 + len;
    }
    sizes
}

/// Why calamine must not open this XLS file, if it must not. Files that cannot be parsed here
/// are left to calamine, which reports them as damaged.
pub(crate) fn refuse(file: &[u8], max_cells: u64) -> Option<String> {
    let cfb = match Cfb::open(file) {
        Ok(Some(c)) => c,
        Ok(None) => return None,
        Err(why) => return Some(why),
    };
    if let Some(what) = cfb.looping_chain() {
        return Some(format!(
            "the workbook is damaged: the allocation chain of {what} loops back on itself"
        ));
    }
    let stream = cfb.workbook_stream()?;
    for size in declared_sizes(&stream) {
        match size {
            Err(()) => {
                return Some(
                    "a sheet declares its last row before its first; the file is damaged".into(),
                );
            }
            Ok((rows, cols)) if rows.saturating_mul(cols) > max_cells => {
                return Some(format!(
                    "a sheet declares {rows} rows × {cols} columns, more than clerk reads; \
                     the file is damaged or not a statement"
                ));
            }
            Ok(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/calamine/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn reads_the_declared_dimensions_of_real_files() {
        for (f, want) in [("date.xls", (3, 2)), ("any_sheets.xls", (5, 2))] {
            let b = corpus(f);
            let stream = Cfb::open(&b).unwrap().unwrap().workbook_stream().unwrap();
            let sizes = declared_sizes(&stream);
            assert!(sizes.contains(&Ok(want)), "{f}: {sizes:?}");
            assert_eq!(refuse(&b, 20_000_000), None, "{f}");
        }
    }

    /// Rewrites the first sheet's DIMENSIONS record in place (found through the parsed
    /// stream, then located in the file by its bytes).
    fn with_dimensions(f: &str, rows: (u32, u32), cols: (u16, u16)) -> Vec<u8> {
        let mut b = corpus(f);
        let stream = Cfb::open(&b).unwrap().unwrap().workbook_stream().unwrap();
        let mut pos = 0;
        let mut old = None;
        while let (Some(t), Some(l)) = (u16_at(&stream, pos), u16_at(&stream, pos + 2)) {
            if t == DIMENSIONS {
                old = Some(stream[pos..pos + 4 + usize::from(l)].to_vec());
                break;
            }
            pos += 4 + usize::from(l);
        }
        let old = old.unwrap();
        let at = memchr::memmem::find(&b, &old).unwrap();
        let mut new = old.clone();
        new[4..8].copy_from_slice(&rows.0.to_le_bytes());
        new[8..12].copy_from_slice(&rows.1.to_le_bytes());
        new[12..14].copy_from_slice(&cols.0.to_le_bytes());
        new[14..16].copy_from_slice(&cols.1.to_le_bytes());
        b[at..at + new.len()].copy_from_slice(&new);
        b
    }

    #[test]
    fn absurd_or_reversed_dimensions_are_refused() {
        let b = with_dimensions("date.xls", (0, 4_000_000), (0, 200));
        let m = refuse(&b, 20_000_000).unwrap();
        assert!(m.contains("4000000 rows × 200 columns"), "{m}");
        let b = with_dimensions("date.xls", (10, 5), (0, 2));
        assert!(
            refuse(&b, 20_000_000)
                .unwrap()
                .contains("last row before its first")
        );
        let b = with_dimensions("date.xls", (0, 3), (0, 2));
        assert_eq!(refuse(&b, 20_000_000), None);
    }

    #[test]
    fn garbage_is_left_to_calamine() {
        assert_eq!(refuse(b"", 1), None);
        assert_eq!(refuse(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 1), None);
        let mut b = corpus("date.xls");
        b.truncate(700);
        assert_eq!(refuse(&b, 1), None);
    }
}

#[cfg(test)]
mod loop_tests {
    use super::*;

    /// Points the FAT entry of the mini stream's first sector (held by the root entry, in big
    /// sectors) at itself.
    fn with_looping_workbook_chain(f: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/calamine/{f}", env!("CARGO_MANIFEST_DIR"));
        let mut b = std::fs::read(path).unwrap();
        let cfb = Cfb::open(&b).unwrap().unwrap();
        let shift = cfb.sector_shift;
        let dir = cfb.chain(u32_at(&b, 0x30).unwrap(), b.len()).unwrap();
        let start = (0..dir.len() / 128)
            .map(|i| &dir[i * 128..i * 128 + 128])
            .find(|e| e[0x42] == 5)
            .map(|e| u32_at(e, 0x74).unwrap())
            .expect("a root entry");
        let per = (1usize << shift) / 4;
        let fat_sector = u32_at(&b, 0x4C + 4 * (start as usize / per)).unwrap() as usize;
        let at = ((fat_sector + 1) << shift) + 4 * (start as usize % per);
        b[at..at + 4].copy_from_slice(&start.to_le_bytes());
        b
    }

    #[test]
    fn a_looping_sector_chain_is_refused_before_calamine_follows_it() {
        let b = with_looping_workbook_chain("date.xls");
        let why = refuse(&b, 20_000_000).expect("refused");
        assert!(why.contains("loops"), "{why}");
    }
}
