//! Small helpers shared by every layer.

pub mod fxhash;
pub mod subject;
pub mod time;

/// 1234567 → "1,234,567".
pub fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
pub mod unicode;
