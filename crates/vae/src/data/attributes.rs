//! Per-image binary attributes ("Smiling", "Eyeglasses"), read from CelebA's
//! `list_attr_celeba.txt` (a line with the count, a line of names, then `file v1 v2 ...` with
//! 1 or -1) or from a CSV file with a header (`file,name1,name2,...`, values 1/0/-1,
//! true/false or yes/no).

use crate::error::{Error, IoContext, Result};
use std::collections::HashMap;
use std::path::Path;

/// Attribute names and, per file name, whether each attribute is present.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeTable {
    pub names: Vec<String>,
    /// File name (as written in the table) to one flag per name.
    pub rows: HashMap<String, Vec<bool>>,
}

/// Reads a table; the format is told by the content (CelebA's starts with the image count).
pub fn read(path: &Path) -> Result<AttributeTable> {
    let text = std::fs::read_to_string(path)
        .ctx(|| format!("cannot read attribute table {}", path.display()))?;
    parse(&text).map_err(|m| Error::file(path, m))
}

/// Parses either format.
pub fn parse(text: &str) -> std::result::Result<AttributeTable, String> {
    let first = text.lines().next().unwrap_or("").trim();
    if first.parse::<usize>().is_ok() {
        parse_celeba(text)
    } else {
        parse_csv(text)
    }
}

/// Reads one flag.
fn flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "-1" | "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Adds a row, refusing duplicates.
fn insert(
    rows: &mut HashMap<String, Vec<bool>>,
    file: &str,
    flags: Vec<bool>,
    line: usize,
) -> std::result::Result<(), String> {
    if rows.insert(file.to_string(), flags).is_some() {
        return Err(format!("line {line}: {file} appears twice"));
    }
    Ok(())
}

/// CelebA's `list_attr_celeba.txt`.
pub fn parse_celeba(text: &str) -> std::result::Result<AttributeTable, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let count: usize = lines
        .next()
        .and_then(|(_, l)| l.trim().parse().ok())
        .ok_or("the first line must be the number of images")?;
    let names: Vec<String> = lines
        .next()
        .ok_or("the second line must name the attributes")?
        .1
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err("the second line names no attributes".into());
    }
    let mut rows = HashMap::new();
    for (n, line) in lines {
        let mut fields = line.split_whitespace();
        let file = fields.next().expect("line is not blank");
        let values: Vec<&str> = fields.collect();
        if values.len() != names.len() {
            return Err(format!(
                "line {}: {} values for {} attributes",
                n + 1,
                values.len(),
                names.len()
            ));
        }
        let flags = values
            .iter()
            .map(|v| flag(v).ok_or_else(|| format!("line {}: {v:?} is not 1 or -1", n + 1)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        insert(&mut rows, file, flags, n + 1)?;
    }
    if rows.len() != count {
        return Err(format!(
            "the first line says {count} images but {} rows follow (truncated file?)",
            rows.len()
        ));
    }
    Ok(AttributeTable { names, rows })
}

/// A CSV file whose first column names the image and whose header names the attributes.
pub fn parse_csv(text: &str) -> std::result::Result<AttributeTable, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format!("cannot read the CSV header: {e}"))?
        .clone();
    if header.len() < 2 {
        return Err(
            "the CSV header must name the file column and at least one attribute (file,Smiling,...)"
                .into(),
        );
    }
    let names: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
    let mut rows = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let flags = record
            .iter()
            .skip(1)
            .zip(&names)
            .map(|(v, name)| {
                flag(v).ok_or_else(|| {
                    format!("line {line}: {name} is {v:?}; use 1/0/-1, true/false or yes/no")
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        insert(&mut rows, &record[0], flags, line)?;
    }
    if rows.is_empty() {
        return Err("the CSV has a header but no rows".into());
    }
    Ok(AttributeTable { names, rows })
}

impl AttributeTable {
    /// Column of attribute `name`, or an error listing the names there are.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            Error::Config(format!(
                "no attribute {name:?}; the table has {}",
                self.names.join(", ")
            ))
        })
    }

    /// Whether each of `files` has attribute `name`. A file is looked up by its path relative
    /// to the data folder (with `/`), then by its bare name, as CelebA lists bare names.
    pub fn flags_for<'a>(
        &self,
        name: &str,
        files: impl IntoIterator<Item = &'a Path>,
    ) -> Result<Vec<bool>> {
        let column = self.column(name)?;
        let mut out = Vec::new();
        let mut missing = (0usize, None);
        for file in files {
            let relative = file
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let bare = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match self.rows.get(&relative).or_else(|| self.rows.get(&bare)) {
                Some(row) => out.push(row[column]),
                None => {
                    missing.0 += 1;
                    missing.1.get_or_insert(relative);
                    out.push(false);
                }
            }
        }
        if let (count, Some(first)) = missing {
            return Err(Error::Data(format!(
                "{count} of {} images have no row in the attribute table (first: {first}); the table must list every image of the data folder",
                out.len()
            )));
        }
        Ok(out)
    }
}
