//! Conversions between the `spin:postgres` WIT values and tokio-postgres's binary wire format.
//!
//! Parameters are encoded for the type the server inferred for each placeholder, and result
//! columns are decoded by their Postgres type into `db-value`s.

use std::cell::Cell;
use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use postgres_protocol::IsNull as WireNull;
use postgres_protocol::types::{self as wire, ArrayDimension, Range, RangeBound};
use postgres_types::to_sql_checked;
use tokio_postgres::Row;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};

use crate::bindings::postgres::{
    Column, DbDataType, DbError, DbValue, Error, Interval, ParameterValue, QueryError,
    RangeBoundKind,
};

/// The boxed error type the postgres-types traits use.
type BoxError = Box<dyn StdError + Sync + Send>;

/// One side of a WIT range: a value and whether it is included, or `None` when unbounded.
type Bound<T> = Option<(T, RangeBoundKind)>;

/// Writes one element of a range or array for the given element type; `Ok(false)` = not accepted.
type ElementEncoder<T> = fn(&T, &Type, &mut BytesMut) -> Result<bool, BoxError>;

/// NUMERIC sign word for positive values.
const NUMERIC_POS: u16 = 0x0000;
/// NUMERIC sign word for negative values.
const NUMERIC_NEG: u16 = 0x4000;
/// NUMERIC sign word for NaN.
const NUMERIC_NAN: u16 = 0xC000;
/// NUMERIC sign word for +Infinity.
const NUMERIC_PINF: u16 = 0xD000;
/// NUMERIC sign word for -Infinity.
const NUMERIC_NINF: u16 = 0xF000;
/// The largest display scale a NUMERIC can carry.
const NUMERIC_MAX_DSCALE: u16 = 0x3FFF;

/// A guest parameter, encoded for whatever type the server inferred for its placeholder.
#[derive(Debug)]
pub struct Param(pub ParameterValue);

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if matches!(self.0, ParameterValue::DbNull) {
            return Ok(IsNull::Yes);
        }
        let case = case_name(&self.0);
        match encode(&self.0, ty, out) {
            Ok(true) => Ok(IsNull::No),
            Ok(false) => Err(format!("cannot encode {case} as {}", type_label(ty)).into()),
            Err(e) => Err(format!("cannot encode {case} as {}: {e}", type_label(ty)).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The WIT case name of a parameter, for error messages.
fn case_name(value: &ParameterValue) -> &'static str {
    match value {
        ParameterValue::Boolean(_) => "boolean",
        ParameterValue::Int8(_) => "int8",
        ParameterValue::Int16(_) => "int16",
        ParameterValue::Int32(_) => "int32",
        ParameterValue::Int64(_) => "int64",
        ParameterValue::Floating32(_) => "floating32",
        ParameterValue::Floating64(_) => "floating64",
        ParameterValue::Str(_) => "str",
        ParameterValue::Binary(_) => "binary",
        ParameterValue::Date(_) => "date",
        ParameterValue::Time(_) => "time",
        ParameterValue::Datetime(_) => "datetime",
        ParameterValue::Timestamp(_) => "timestamp",
        ParameterValue::Uuid(_) => "uuid",
        ParameterValue::Jsonb(_) => "jsonb",
        ParameterValue::Decimal(_) => "decimal",
        ParameterValue::RangeInt32(_) => "range-int32",
        ParameterValue::RangeInt64(_) => "range-int64",
        ParameterValue::RangeDecimal(_) => "range-decimal",
        ParameterValue::ArrayInt32(_) => "array-int32",
        ParameterValue::ArrayInt64(_) => "array-int64",
        ParameterValue::ArrayDecimal(_) => "array-decimal",
        ParameterValue::ArrayStr(_) => "array-str",
        ParameterValue::Interval(_) => "interval",
        ParameterValue::DbNull => "db-null",
    }
}

/// A readable Postgres type name: `int4`, or `int4[]` for arrays.
fn type_label(ty: &Type) -> String {
    match ty.kind() {
        Kind::Array(member) => format!("{}[]", member.name()),
        _ => ty.name().to_string(),
    }
}

/// Encodes a non-null parameter; `Ok(false)` means the server's type does not take this case.
fn encode(value: &ParameterValue, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    match value {
        ParameterValue::Boolean(v) => encode_bool(*v, ty, out),
        ParameterValue::Int8(v) => encode_int(i64::from(*v), ty, out),
        ParameterValue::Int16(v) => encode_int(i64::from(*v), ty, out),
        ParameterValue::Int32(v) => encode_int(i64::from(*v), ty, out),
        ParameterValue::Int64(v) => encode_int(*v, ty, out),
        ParameterValue::Floating32(v) => encode_f32(*v, ty, out),
        ParameterValue::Floating64(v) => encode_f64(*v, ty, out),
        ParameterValue::Str(s) => encode_str(s, ty, out),
        ParameterValue::Binary(b) => encode_binary(b, ty, out),
        ParameterValue::Date(d) => encode_date(*d, ty, out),
        ParameterValue::Time(t) => encode_time(*t, ty, out),
        ParameterValue::Datetime(dt) => encode_datetime(*dt, ty, out),
        ParameterValue::Timestamp(secs) => encode_timestamp(*secs, ty, out),
        ParameterValue::Uuid(s) => encode_uuid(s, ty, out),
        ParameterValue::Jsonb(b) => encode_json(b, ty, out),
        ParameterValue::Decimal(s) => encode_decimal(s, ty, out),
        ParameterValue::Interval(iv) => encode_interval(iv, ty, out),
        ParameterValue::DbNull => Ok(true),
        _ => encode_compound(value, ty, out),
    }
}

/// Encodes the range and array cases.
fn encode_compound(
    value: &ParameterValue,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<bool, BoxError> {
    match value {
        ParameterValue::RangeInt32(r) => {
            encode_range(r, ty, out, |v, t, o| encode_int(i64::from(*v), t, o))
        }
        ParameterValue::RangeInt64(r) => encode_range(r, ty, out, |v, t, o| encode_int(*v, t, o)),
        ParameterValue::RangeDecimal(r) => {
            encode_range(r, ty, out, |v: &String, t, o| encode_decimal(v, t, o))
        }
        ParameterValue::ArrayInt32(a) => {
            encode_array(a, ty, out, |v, t, o| encode_int(i64::from(*v), t, o))
        }
        ParameterValue::ArrayInt64(a) => encode_array(a, ty, out, |v, t, o| encode_int(*v, t, o)),
        ParameterValue::ArrayDecimal(a) => {
            encode_array(a, ty, out, |v: &String, t, o| encode_decimal(v, t, o))
        }
        ParameterValue::ArrayStr(a) => {
            encode_array(a, ty, out, |v: &String, t, o| encode_str(v, t, o))
        }
        _ => Ok(false),
    }
}

/// Whether the type takes plain text (including `unknown`, which Postgres parses itself).
fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || ty.name() == "citext"
}

/// Encodes a boolean into BOOL.
fn encode_bool(v: bool, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    if *ty != Type::BOOL {
        return Ok(false);
    }
    wire::bool_to_sql(v, out);
    Ok(true)
}

/// Encodes an integer into any integer type it fits, or into NUMERIC.
fn encode_int(v: i64, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    match *ty {
        Type::CHAR => wire::char_to_sql(narrow(v, ty)?, out),
        Type::INT2 => wire::int2_to_sql(narrow(v, ty)?, out),
        Type::INT4 => wire::int4_to_sql(narrow(v, ty)?, out),
        Type::INT8 => wire::int8_to_sql(v, out),
        Type::NUMERIC => write_numeric(&parse_numeric(&v.to_string())?, out)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Narrows an integer to a smaller integer type, failing when it does not fit.
fn narrow<T: TryFrom<i64>>(v: i64, ty: &Type) -> Result<T, BoxError> {
    T::try_from(v).map_err(|_| format!("value {v} is out of range for {}", ty.name()).into())
}

/// Encodes a single-precision float into FLOAT4 or FLOAT8.
fn encode_f32(v: f32, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    match *ty {
        Type::FLOAT4 => wire::float4_to_sql(v, out),
        Type::FLOAT8 => wire::float8_to_sql(f64::from(v), out),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Encodes a double into FLOAT8, or into FLOAT4 (rounded) when within its range.
fn encode_f64(v: f64, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    match *ty {
        Type::FLOAT8 => wire::float8_to_sql(v, out),
        Type::FLOAT4 if v.is_finite() && v.abs() > f64::from(f32::MAX) => {
            return Err(format!("value {v} is out of range for float4").into());
        }
        Type::FLOAT4 => wire::float4_to_sql(v as f32, out),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Encodes a string into a text type, or into JSON/JSONB/UUID/NUMERIC when it parses as one.
fn encode_str(s: &str, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    match *ty {
        _ if is_text(ty) => wire::text_to_sql(s, out),
        Type::JSON | Type::JSONB => return encode_json(s.as_bytes(), ty, out),
        Type::UUID => return encode_uuid(s, ty, out),
        Type::NUMERIC => return encode_decimal(s, ty, out),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Encodes bytes into BYTEA.
fn encode_binary(b: &[u8], ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    if *ty != Type::BYTEA {
        return Ok(false);
    }
    wire::bytea_to_sql(b, out);
    Ok(true)
}

/// Encodes a (year, month, day) into DATE.
fn encode_date((y, m, d): (i32, u8, u8), ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    if *ty != Type::DATE {
        return Ok(false);
    }
    let date = NaiveDate::from_ymd_opt(y, u32::from(m), u32::from(d))
        .ok_or_else(|| format!("{y:04}-{m:02}-{d:02} is not a valid date"))?;
    date.to_sql(ty, out)?;
    Ok(true)
}

/// Builds a time of day from (hour, minute, second, nanosecond).
fn naive_time((h, mi, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, BoxError> {
    NaiveTime::from_hms_nano_opt(u32::from(h), u32::from(mi), u32::from(s), ns)
        .ok_or_else(|| format!("{h:02}:{mi:02}:{s:02}.{ns:09} is not a valid time").into())
}

/// Encodes a (hour, minute, second, nanosecond) into TIME.
fn encode_time(t: (u8, u8, u8, u32), ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    if *ty != Type::TIME {
        return Ok(false);
    }
    naive_time(t)?.to_sql(ty, out)?;
    Ok(true)
}

/// Encodes a UTC (year, month, day, hour, minute, second, nanosecond) into TIMESTAMP(TZ).
fn encode_datetime(
    (y, mo, d, h, mi, s, ns): (i32, u8, u8, u8, u8, u8, u32),
    ty: &Type,
    out: &mut BytesMut,
) -> Result<bool, BoxError> {
    if !matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ) {
        return Ok(false);
    }
    let date = NaiveDate::from_ymd_opt(y, u32::from(mo), u32::from(d))
        .ok_or_else(|| format!("{y:04}-{mo:02}-{d:02} is not a valid date"))?;
    write_utc(date.and_time(naive_time((h, mi, s, ns))?), ty, out)
}

/// Encodes unix seconds into TIMESTAMP(TZ), or as the plain number into INT8.
fn encode_timestamp(secs: i64, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    if *ty == Type::INT8 {
        wire::int8_to_sql(secs, out);
        return Ok(true);
    }
    if !matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ) {
        return Ok(false);
    }
    let instant = DateTime::<Utc>::from_timestamp(secs, 0)
        .ok_or_else(|| format!("unix time {secs} is out of range"))?;
    write_utc(instant.naive_utc(), ty, out)
}

/// Writes a UTC instant as TIMESTAMP or TIMESTAMPTZ.
fn write_utc(instant: NaiveDateTime, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    match *ty {
        Type::TIMESTAMPTZ => instant.and_utc().to_sql(ty, out)?,
        _ => instant.to_sql(ty, out)?,
    };
    Ok(true)
}

/// Encodes a UUID string into UUID, or as text into a text type.
fn encode_uuid(s: &str, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    match *ty {
        Type::UUID => wire::uuid_to_sql(*uuid::Uuid::parse_str(s)?.as_bytes(), out),
        _ if is_text(ty) => wire::text_to_sql(s, out),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Encodes JSON text into JSON or JSONB after checking that it is well-formed.
fn encode_json(text: &[u8], ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    if !matches!(*ty, Type::JSON | Type::JSONB) {
        return Ok(false);
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(text)?;
    if *ty == Type::JSONB {
        out.put_u8(1);
    }
    out.extend_from_slice(text);
    Ok(true)
}

/// Encodes a base-10 string into NUMERIC, or as text into a text type.
fn encode_decimal(s: &str, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    match *ty {
        Type::NUMERIC => write_numeric(&parse_numeric(s)?, out)?,
        _ if is_text(ty) => wire::text_to_sql(s, out),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Encodes an interval into INTERVAL (micros, days, months).
fn encode_interval(iv: &Interval, ty: &Type, out: &mut BytesMut) -> Result<bool, BoxError> {
    if *ty != Type::INTERVAL {
        return Ok(false);
    }
    out.put_i64(iv.micros);
    out.put_i32(iv.days);
    out.put_i32(iv.months);
    Ok(true)
}

/// Encodes a range for any range type whose element type takes the bound values.
fn encode_range<T: PartialEq>(
    range: &(Bound<T>, Bound<T>),
    ty: &Type,
    out: &mut BytesMut,
    element: ElementEncoder<T>,
) -> Result<bool, BoxError> {
    let Kind::Range(member) = ty.kind() else {
        return Ok(false);
    };
    if is_empty_range(range) {
        wire::empty_range_to_sql(out);
        return Ok(true);
    }
    let rejected = Cell::new(false);
    let result = wire::range_to_sql(
        |buf| encode_bound(range.0.as_ref(), member, buf, element, &rejected),
        |buf| encode_bound(range.1.as_ref(), member, buf, element, &rejected),
        out,
    );
    if rejected.get() {
        return Ok(false);
    }
    result.map(|()| true)
}

/// Whether both bounds are the same value and at least one excludes it.
fn is_empty_range<T: PartialEq>((lower, upper): &(Bound<T>, Bound<T>)) -> bool {
    match (lower, upper) {
        (Some((lo, lo_kind)), Some((hi, hi_kind))) => {
            lo == hi
                && (*lo_kind == RangeBoundKind::Exclusive || *hi_kind == RangeBoundKind::Exclusive)
        }
        _ => false,
    }
}

/// Writes one range bound, flagging `rejected` when the element type does not take it.
fn encode_bound<T>(
    bound: Option<&(T, RangeBoundKind)>,
    member: &Type,
    buf: &mut BytesMut,
    element: ElementEncoder<T>,
    rejected: &Cell<bool>,
) -> Result<RangeBound<WireNull>, BoxError> {
    let Some((value, kind)) = bound else {
        return Ok(RangeBound::Unbounded);
    };
    if !element(value, member, buf)? {
        rejected.set(true);
        return Err("range element type not accepted".into());
    }
    Ok(match kind {
        RangeBoundKind::Inclusive => RangeBound::Inclusive(WireNull::No),
        RangeBoundKind::Exclusive => RangeBound::Exclusive(WireNull::No),
    })
}

/// Encodes a one-dimensional array with NULL elements for any array type whose element fits.
fn encode_array<T>(
    items: &[Option<T>],
    ty: &Type,
    out: &mut BytesMut,
    element: ElementEncoder<T>,
) -> Result<bool, BoxError> {
    let Kind::Array(member) = ty.kind() else {
        return Ok(false);
    };
    let dimension = ArrayDimension {
        len: i32::try_from(items.len())?,
        lower_bound: 1,
    };
    let mut rejected = false;
    let result = wire::array_to_sql(
        Some(dimension),
        member.oid(),
        items,
        |item, buf| {
            let Some(value) = item else {
                return Ok(WireNull::Yes);
            };
            if element(value, member, buf)? {
                return Ok(WireNull::No);
            }
            rejected = true;
            Err("array element type not accepted".into())
        },
        out,
    );
    if rejected {
        return Ok(false);
    }
    result.map(|()| true)
}

/// A NUMERIC in Postgres's wire layout: base-10000 digits, weight, sign and display scale.
#[derive(Debug, PartialEq)]
struct Numeric {
    /// Base-10000 digits, most significant first.
    digits: Vec<i16>,
    /// Power of 10000 of the first digit.
    weight: i16,
    /// Sign word (positive, negative, NaN or an infinity).
    sign: u16,
    /// Number of decimal digits after the point to display.
    dscale: u16,
}

impl Numeric {
    /// A numeric with no digits: zero (with a scale), NaN or an infinity.
    fn special(sign: u16, dscale: u16) -> Self {
        Self {
            digits: Vec::new(),
            weight: 0,
            sign,
            dscale,
        }
    }
}

/// Parses a base-10 string (`-12.50`, `1e3`, `NaN`, `Infinity`) into a NUMERIC.
fn parse_numeric(text: &str) -> Result<Numeric, BoxError> {
    let text = text.trim();
    if let Some(special) = special_numeric(text) {
        return Ok(special);
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i32>()?),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(format!("{text:?} is not a base-10 number").into());
    }
    let digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = i64::try_from(int_part.len())? + i64::from(exponent);
    let dscale = (i64::try_from(frac_part.len())? - i64::from(exponent)).max(0);
    build_numeric(negative, &digits, point, dscale)
}

/// Recognises the NaN and infinity spellings Postgres accepts.
fn special_numeric(text: &str) -> Option<Numeric> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => Some(Numeric::special(NUMERIC_NAN, 0)),
        "infinity" | "+infinity" | "inf" | "+inf" => Some(Numeric::special(NUMERIC_PINF, 0)),
        "-infinity" | "-inf" => Some(Numeric::special(NUMERIC_NINF, 0)),
        _ => None,
    }
}

/// Groups decimal digits (with the point after `point` of them) into base-10000 digits.
fn build_numeric(
    negative: bool,
    digits: &[u8],
    point: i64,
    dscale: i64,
) -> Result<Numeric, BoxError> {
    let dscale = u16::try_from(dscale)
        .ok()
        .filter(|d| *d <= NUMERIC_MAX_DSCALE)
        .ok_or("numeric scale is too large")?;
    let lead = digits.iter().take_while(|d| **d == 0).count();
    let digits = &digits[lead..];
    let trail = digits.iter().rev().take_while(|d| **d == 0).count();
    let digits = &digits[..digits.len() - trail];
    if digits.is_empty() {
        return Ok(Numeric::special(NUMERIC_POS, dscale));
    }
    let first_exp = point - i64::try_from(lead)? - 1;
    let weight = first_exp.div_euclid(4);
    let last_exp = first_exp - i64::try_from(digits.len())? + 1;
    let mut groups = vec![0i16; usize::try_from(weight - last_exp.div_euclid(4) + 1)?];
    for (exp, digit) in (last_exp..=first_exp).rev().zip(digits) {
        let slot = usize::try_from(weight - exp.div_euclid(4))?;
        if let Some(group) = groups.get_mut(slot) {
            *group += i16::from(*digit) * 10i16.pow(u32::try_from(exp.rem_euclid(4))?);
        }
    }
    let weight = i16::try_from(weight).map_err(|_| "numeric value is out of range")?;
    let sign = if negative { NUMERIC_NEG } else { NUMERIC_POS };
    Ok(Numeric {
        digits: groups,
        weight,
        sign,
        dscale,
    })
}

/// Writes a NUMERIC in the binary wire format.
fn write_numeric(n: &Numeric, out: &mut BytesMut) -> Result<(), BoxError> {
    out.put_i16(i16::try_from(n.digits.len())?);
    out.put_i16(n.weight);
    out.put_u16(n.sign);
    out.put_u16(n.dscale);
    for digit in &n.digits {
        out.put_i16(*digit);
    }
    Ok(())
}

/// Reads a NUMERIC from the binary wire format.
fn read_numeric(mut raw: &[u8]) -> Result<Numeric, BoxError> {
    let count = usize::try_from(read_i16(&mut raw)?)?;
    let weight = read_i16(&mut raw)?;
    let sign = read_i16(&mut raw)? as u16;
    let dscale = read_i16(&mut raw)? as u16;
    let digits = (0..count)
        .map(|_| read_i16(&mut raw))
        .collect::<Result<Vec<_>, _>>()?;
    let valid_sign = matches!(
        sign,
        NUMERIC_POS | NUMERIC_NEG | NUMERIC_NAN | NUMERIC_PINF | NUMERIC_NINF
    );
    if !raw.is_empty() || !valid_sign || digits.iter().any(|d| !(0..10000).contains(d)) {
        return Err("invalid numeric value".into());
    }
    Ok(Numeric {
        digits,
        weight,
        sign,
        dscale,
    })
}

/// Formats a NUMERIC as the exact base-10 string Postgres itself would print.
fn format_numeric(n: &Numeric) -> String {
    match n.sign {
        NUMERIC_NAN => return "NaN".to_string(),
        NUMERIC_PINF => return "Infinity".to_string(),
        NUMERIC_NINF => return "-Infinity".to_string(),
        _ => {}
    }
    let group = |k: i32| {
        usize::try_from(k)
            .ok()
            .and_then(|k| n.digits.get(k))
            .copied()
    };
    let weight = i32::from(n.weight);
    let mut text = String::from(if n.sign == NUMERIC_NEG { "-" } else { "" });
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&group(0).unwrap_or(0).to_string());
        (1..=weight).for_each(|k| text.push_str(&format!("{:04}", group(k).unwrap_or(0))));
    }
    if n.dscale > 0 {
        let scale = usize::from(n.dscale);
        let groups = (i32::from(n.dscale) + 3) / 4;
        let mut fraction: String = (1..=groups)
            .map(|j| format!("{:04}", group(weight + j).unwrap_or(0)))
            .collect();
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    text
}

/// Takes a big-endian `i16` off the front of `raw`.
fn read_i16(raw: &mut &[u8]) -> Result<i16, BoxError> {
    let (head, rest) = raw.split_first_chunk::<2>().ok_or("value is truncated")?;
    *raw = rest;
    Ok(i16::from_be_bytes(*head))
}

/// Takes a big-endian `i32` off the front of `raw`.
fn read_i32(raw: &mut &[u8]) -> Result<i32, BoxError> {
    let (head, rest) = raw.split_first_chunk::<4>().ok_or("value is truncated")?;
    *raw = rest;
    Ok(i32::from_be_bytes(*head))
}

/// Takes a big-endian `i64` off the front of `raw`.
fn read_i64(raw: &mut &[u8]) -> Result<i64, BoxError> {
    let (head, rest) = raw.split_first_chunk::<8>().ok_or("value is truncated")?;
    *raw = rest;
    Ok(i64::from_be_bytes(*head))
}

/// A NUMERIC value decoded to its exact base-10 text.
struct DecimalText(String);

impl<'a> FromSql<'a> for DecimalText {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(format_numeric(&read_numeric(raw)?)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// A range of any element type, with unbounded sides (and the empty range) as `None`.
struct PgRange<T>(Bound<T>, Bound<T>);

impl<'a, T: FromSql<'a>> FromSql<'a> for PgRange<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let Kind::Range(member) = ty.kind() else {
            return Err(format!("{} is not a range type", ty.name()).into());
        };
        match wire::range_from_sql(raw)? {
            Range::Empty => Ok(Self(None, None)),
            Range::Nonempty(lower, upper) => Ok(Self(
                decode_bound(member, lower)?,
                decode_bound(member, upper)?,
            )),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Range(member) if T::accepts(member))
    }
}

/// Decodes one side of a range.
fn decode_bound<'a, T: FromSql<'a>>(
    member: &Type,
    bound: RangeBound<Option<&'a [u8]>>,
) -> Result<Bound<T>, BoxError> {
    let (raw, kind) = match bound {
        RangeBound::Unbounded => return Ok(None),
        RangeBound::Inclusive(raw) => (raw, RangeBoundKind::Inclusive),
        RangeBound::Exclusive(raw) => (raw, RangeBoundKind::Exclusive),
    };
    let raw = raw.ok_or("range bound is NULL")?;
    Ok(Some((T::from_sql(member, raw)?, kind)))
}

/// An INTERVAL as (micros, days, months).
struct PgInterval(Interval);

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, mut raw: &'a [u8]) -> Result<Self, BoxError> {
        let micros = read_i64(&mut raw)?;
        let days = read_i32(&mut raw)?;
        let months = read_i32(&mut raw)?;
        if !raw.is_empty() {
            return Err("invalid interval length".into());
        }
        Ok(Self(Interval {
            micros,
            days,
            months,
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// JSON or JSONB as the bytes of its JSON text.
struct JsonText(Vec<u8>);

impl<'a> FromSql<'a> for JsonText {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if *ty != Type::JSONB {
            return Ok(Self(raw.to_vec()));
        }
        match raw.split_first() {
            Some((1, text)) => Ok(Self(text.to_vec())),
            _ => Err("unsupported jsonb encoding version".into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }
}

/// A TIMESTAMP or TIMESTAMPTZ as a UTC date and time.
struct UtcDateTime(NaiveDateTime);

impl<'a> FromSql<'a> for UtcDateTime {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if *ty == Type::TIMESTAMPTZ {
            return Ok(Self(DateTime::<Utc>::from_sql(ty, raw)?.naive_utc()));
        }
        Ok(Self(NaiveDateTime::from_sql(ty, raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
    }
}

/// The undecoded bytes of a value of any type.
struct RawBytes(Vec<u8>);

impl<'a> FromSql<'a> for RawBytes {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Maps a Postgres column type to the WIT data type its values decode to.
pub fn column_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSON | Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INTERVAL => DbDataType::Interval,
        _ => compound_column_type(ty),
    }
}

/// Maps range, array and unknown types.
fn compound_column_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY | Type::NAME_ARRAY => {
            DbDataType::ArrayStr
        }
        _ if ty.name() == "citext" => DbDataType::Str,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// Describes result columns by name and WIT data type.
pub fn columns(cols: &[tokio_postgres::Column]) -> Vec<Column> {
    cols.iter()
        .map(|c| Column {
            name: c.name().to_string(),
            data_type: column_type(c.type_()),
        })
        .collect()
}

/// Decodes every column of a row into WIT values, SQL NULL becoming `db-null`.
#[expect(
    clippy::result_large_err,
    reason = "the error type is the WIT `error` of the bindings"
)]
pub fn convert_row(row: &Row) -> Result<Vec<DbValue>, Error> {
    let mut values = Vec::with_capacity(row.len());
    for (idx, col) in row.columns().iter().enumerate() {
        let value = decode_column(row, idx, col.type_()).map_err(|e| {
            Error::ValueConversionFailed(format!("column {}: {}", col.name(), error_chain(&e)))
        })?;
        values.push(value);
    }
    Ok(values)
}

/// Decodes one column by the WIT data type its Postgres type maps to.
fn decode_column(row: &Row, idx: usize, ty: &Type) -> Decoded {
    let data_type = column_type(ty);
    match decode_scalar(row, idx, &data_type) {
        Some(value) => value,
        None => decode_compound(row, idx, &data_type),
    }
}

/// Reads a nullable column, NULL becoming `None`.
fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<Option<T>, tokio_postgres::Error> {
    row.try_get::<_, Option<T>>(idx)
}

/// The result of decoding one column.
type Decoded = Result<DbValue, tokio_postgres::Error>;

/// Decodes the scalar data types, or returns `None` for ranges, arrays and others.
fn decode_scalar(row: &Row, idx: usize, data_type: &DbDataType) -> Option<Decoded> {
    let value = match data_type {
        DbDataType::Boolean => get(row, idx).map(|v| v.map(DbValue::Boolean)),
        DbDataType::Int8 => get(row, idx).map(|v| v.map(DbValue::Int8)),
        DbDataType::Int16 => get(row, idx).map(|v| v.map(DbValue::Int16)),
        DbDataType::Int32 => get(row, idx).map(|v| v.map(DbValue::Int32)),
        DbDataType::Int64 => get(row, idx).map(|v| v.map(DbValue::Int64)),
        DbDataType::Floating32 => get(row, idx).map(|v| v.map(DbValue::Floating32)),
        DbDataType::Floating64 => get(row, idx).map(|v| v.map(DbValue::Floating64)),
        DbDataType::Str => get(row, idx).map(|v| v.map(DbValue::Str)),
        DbDataType::Binary => get(row, idx).map(|v| v.map(DbValue::Binary)),
        DbDataType::Date => get(row, idx).map(|v| v.map(date_value)),
        DbDataType::Time => get(row, idx).map(|v| v.map(time_value)),
        DbDataType::Datetime => get(row, idx).map(|v| v.map(datetime_value)),
        DbDataType::Uuid => {
            get(row, idx).map(|v| v.map(|u: uuid::Uuid| DbValue::Uuid(u.to_string())))
        }
        DbDataType::Jsonb => get(row, idx).map(|v| v.map(|j: JsonText| DbValue::Jsonb(j.0))),
        DbDataType::Decimal => get(row, idx).map(|v| v.map(|d: DecimalText| DbValue::Decimal(d.0))),
        DbDataType::Interval => {
            get(row, idx).map(|v| v.map(|i: PgInterval| DbValue::Interval(i.0)))
        }
        _ => return None,
    };
    Some(value.map(|v| v.unwrap_or(DbValue::DbNull)))
}

/// Decodes ranges, arrays, and (as raw bytes) every other type.
fn decode_compound(row: &Row, idx: usize, data_type: &DbDataType) -> Decoded {
    let value = match data_type {
        DbDataType::RangeInt32 => {
            get(row, idx)?.map(|r: PgRange<i32>| DbValue::RangeInt32((r.0, r.1)))
        }
        DbDataType::RangeInt64 => {
            get(row, idx)?.map(|r: PgRange<i64>| DbValue::RangeInt64((r.0, r.1)))
        }
        DbDataType::RangeDecimal => get(row, idx)?.map(|r: PgRange<DecimalText>| {
            DbValue::RangeDecimal((decimal_bound(r.0), decimal_bound(r.1)))
        }),
        DbDataType::ArrayInt32 => get(row, idx)?.map(DbValue::ArrayInt32),
        DbDataType::ArrayInt64 => get(row, idx)?.map(DbValue::ArrayInt64),
        DbDataType::ArrayDecimal => get(row, idx)?.map(|a: Vec<Option<DecimalText>>| {
            DbValue::ArrayDecimal(a.into_iter().map(|d| d.map(|d| d.0)).collect())
        }),
        DbDataType::ArrayStr => get(row, idx)?.map(DbValue::ArrayStr),
        _ => get(row, idx)?.map(|r: RawBytes| DbValue::Unsupported(r.0)),
    };
    Ok(value.unwrap_or(DbValue::DbNull))
}

/// Unwraps the decimal text of a range bound.
fn decimal_bound(bound: Bound<DecimalText>) -> Bound<String> {
    bound.map(|(d, kind)| (d.0, kind))
}

/// Converts a date to (year, month, day).
fn date_value(d: NaiveDate) -> DbValue {
    DbValue::Date((d.year(), d.month() as u8, d.day() as u8))
}

/// Converts a time of day to (hour, minute, second, nanosecond).
fn time_value(t: NaiveTime) -> DbValue {
    DbValue::Time((
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    ))
}

/// Converts a UTC date-time to (year, month, day, hour, minute, second, nanosecond).
fn datetime_value(UtcDateTime(dt): UtcDateTime) -> DbValue {
    DbValue::Datetime((
        dt.year(),
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
        dt.nanosecond(),
    ))
}

/// Display messages of tokio-postgres errors that mean the connection is unusable.
const CONNECTION_ERRORS: [&str; 6] = [
    "connection closed",
    "error communicating with the server",
    "error connecting to server",
    "timeout waiting for server",
    "error performing TLS handshake",
    "authentication error",
];

/// Maps a tokio-postgres error to the WIT error a guest sees.
pub fn query_error(e: tokio_postgres::Error) -> Error {
    let text = error_chain(&e);
    if let Some(db) = e.as_db_error() {
        return Error::QueryFailed(QueryError::DbError(db_error(text, db)));
    }
    let kind = e.to_string();
    if e.is_closed()
        || CONNECTION_ERRORS
            .iter()
            .any(|prefix| kind.starts_with(prefix))
    {
        return Error::ConnectionFailed(text);
    }
    let wrong_count = kind.starts_with("expected ") && kind.contains(" parameters but got ");
    if kind.starts_with("error serializing parameter") || wrong_count {
        return Error::BadParameter(text);
    }
    Error::QueryFailed(QueryError::Text(text))
}

/// Builds the structured WIT error from a Postgres error response.
fn db_error(as_text: String, db: &tokio_postgres::error::DbError) -> DbError {
    DbError {
        as_text,
        severity: db.severity().to_string(),
        code: db.code().code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        extras: db_error_extras(db),
    }
}

/// The optional fields of a Postgres error response that are present, by name.
fn db_error_extras(db: &tokio_postgres::error::DbError) -> Vec<(String, String)> {
    let position = db.position().map(|p| match p {
        ErrorPosition::Original(at) => at.to_string(),
        ErrorPosition::Internal { position, query } => format!("{position} in {query}"),
    });
    let fields = [
        ("hint", db.hint().map(str::to_string)),
        ("position", position),
        ("where", db.where_().map(str::to_string)),
        ("schema", db.schema().map(str::to_string)),
        ("table", db.table().map(str::to_string)),
        ("column", db.column().map(str::to_string)),
        ("datatype", db.datatype().map(str::to_string)),
        ("constraint", db.constraint().map(str::to_string)),
    ];
    fields
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_string(), value?)))
        .collect()
}

/// An error's message followed by the messages of its sources, joined by `: `.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use tokio_postgres::{Client, NoTls};

    use crate::bindings::postgres::RangeBoundKind::{Exclusive, Inclusive};

    const LOCAL_POSTGRES: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

    async fn connect() -> Client {
        let (client, connection) = tokio_postgres::connect(LOCAL_POSTGRES, NoTls)
            .await
            .expect("connect to Postgres");
        tokio::spawn(connection);
        client
    }

    fn debug<T: std::fmt::Debug>(value: &T) -> String {
        format!("{value:?}")
    }

    fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }

    /// Column type, parameter sent, and the value expected back.
    fn round_trip_cases() -> Vec<(&'static str, ParameterValue, DbValue)> {
        use DbValue as D;
        use ParameterValue as P;
        let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8".to_string();
        let when = (2024, 2, 29, 13, 45, 30, 123_456_000);
        let interval = || Interval {
            micros: 3_723_000_001,
            days: 2,
            months: 14,
        };
        let strs = vec![Some("a".to_string()), None, Some(String::new())];
        vec![
            ("boolean", P::Boolean(true), D::Boolean(true)),
            ("\"char\"", P::Int8(-5), D::Int8(-5)),
            ("int2", P::Int16(-300), D::Int16(-300)),
            ("int4", P::Int32(70_000), D::Int32(70_000)),
            ("int8", P::Int64(1 << 40), D::Int64(1 << 40)),
            ("real", P::Floating32(1.5), D::Floating32(1.5)),
            (
                "double precision",
                P::Floating64(-2.25),
                D::Floating64(-2.25),
            ),
            ("text", P::Str("héllo".into()), D::Str("héllo".into())),
            ("varchar(20)", P::Str("abc".into()), D::Str("abc".into())),
            (
                "bytea",
                P::Binary(vec![0, 1, 255]),
                D::Binary(vec![0, 1, 255]),
            ),
            ("date", P::Date((2024, 2, 29)), D::Date((2024, 2, 29))),
            (
                "time",
                P::Time((13, 45, 30, 123_456_000)),
                D::Time((13, 45, 30, 123_456_000)),
            ),
            ("timestamp", P::Datetime(when), D::Datetime(when)),
            ("timestamptz", P::Datetime(when), D::Datetime(when)),
            (
                "timestamptz",
                P::Timestamp(1_700_000_000),
                D::Datetime((2023, 11, 14, 22, 13, 20, 0)),
            ),
            ("int8", P::Timestamp(1_700_000_000), D::Int64(1_700_000_000)),
            ("uuid", P::Uuid(uuid.clone()), D::Uuid(uuid.clone())),
            ("uuid", P::Str(uuid.to_uppercase()), D::Uuid(uuid)),
            (
                "jsonb",
                P::Jsonb(br#"{"a": [1, 2]}"#.to_vec()),
                D::Jsonb(br#"{"a": [1, 2]}"#.to_vec()),
            ),
            (
                "json",
                P::Jsonb(br#"{"b":true}"#.to_vec()),
                D::Jsonb(br#"{"b":true}"#.to_vec()),
            ),
            (
                "jsonb",
                P::Str(r#"{"k": "v"}"#.into()),
                D::Jsonb(br#"{"k": "v"}"#.to_vec()),
            ),
            (
                "numeric",
                P::Decimal("12.50".into()),
                D::Decimal("12.50".into()),
            ),
            (
                "numeric",
                P::Decimal("-0.000123".into()),
                D::Decimal("-0.000123".into()),
            ),
            ("numeric", P::Int32(42), D::Decimal("42".into())),
            (
                "int4range",
                P::RangeInt32((Some((1, Inclusive)), Some((10, Exclusive)))),
                D::RangeInt32((Some((1, Inclusive)), Some((10, Exclusive)))),
            ),
            (
                "int8range",
                P::RangeInt64((Some((5, Inclusive)), None)),
                D::RangeInt64((Some((5, Inclusive)), None)),
            ),
            (
                "numrange",
                P::RangeDecimal((
                    Some(("1.5".into(), Exclusive)),
                    Some(("2.50".into(), Inclusive)),
                )),
                D::RangeDecimal((
                    Some(("1.5".into(), Exclusive)),
                    Some(("2.50".into(), Inclusive)),
                )),
            ),
            (
                "int4range",
                P::RangeInt32((Some((3, Inclusive)), Some((3, Exclusive)))),
                D::RangeInt32((None, None)),
            ),
            (
                "int4[]",
                P::ArrayInt32(vec![Some(1), None, Some(3)]),
                D::ArrayInt32(vec![Some(1), None, Some(3)]),
            ),
            (
                "int8[]",
                P::ArrayInt64(vec![None, Some(1 << 40)]),
                D::ArrayInt64(vec![None, Some(1 << 40)]),
            ),
            (
                "int8[]",
                P::ArrayInt32(vec![Some(7)]),
                D::ArrayInt64(vec![Some(7)]),
            ),
            (
                "numeric[]",
                P::ArrayDecimal(vec![Some("1.10".into()), None]),
                D::ArrayDecimal(vec![Some("1.10".into()), None]),
            ),
            (
                "text[]",
                P::ArrayStr(strs.clone()),
                D::ArrayStr(strs.clone()),
            ),
            ("varchar[]", P::ArrayStr(strs.clone()), D::ArrayStr(strs)),
            ("int4[]", P::ArrayInt32(vec![]), D::ArrayInt32(vec![])),
            ("interval", P::Interval(interval()), D::Interval(interval())),
            ("text", P::DbNull, D::DbNull),
            ("uuid", P::DbNull, D::DbNull),
            ("int4[]", P::DbNull, D::DbNull),
        ]
    }

    #[tokio::test]
    async fn every_parameter_case_round_trips_through_a_temp_table() {
        let client = connect().await;
        let cases = round_trip_cases();
        let defs: Vec<String> = cases
            .iter()
            .enumerate()
            .map(|(i, (ty, _, _))| format!("c{i} {ty}"))
            .collect();
        let names: Vec<String> = (0..cases.len()).map(|i| format!("c{i}")).collect();
        let slots: Vec<String> = (1..=cases.len()).map(|i| format!("${i}")).collect();
        client
            .batch_execute(&format!(
                "CREATE TEMP TABLE every_type ({})",
                defs.join(", ")
            ))
            .await
            .unwrap();
        let params: Vec<Param> = cases.iter().map(|(_, p, _)| Param(p.clone())).collect();
        let insert = format!(
            "INSERT INTO every_type ({}) VALUES ({})",
            names.join(", "),
            slots.join(", ")
        );
        client
            .execute(insert.as_str(), &refs(&params))
            .await
            .map_err(query_error)
            .unwrap();
        let select = format!("SELECT {} FROM every_type", names.join(", "));
        let row = client.query_one(select.as_str(), &[]).await.unwrap();
        let values = convert_row(&row).unwrap();
        for ((ty, sent, expected), got) in cases.iter().zip(&values) {
            assert_eq!(debug(got), debug(expected), "column {ty} with {sent:?}");
        }
        assert_eq!(values.len(), cases.len());
    }

    #[tokio::test]
    async fn result_columns_describe_their_wit_data_types() {
        let client = connect().await;
        let sql = "SELECT 1::int4 AS a, 'x'::text AS b, 1.5::numeric AS c, \
                   '{1}'::int8[] AS d, '[1,2)'::numrange AS e, '1.2.3.4'::inet AS f";
        let statement = client.prepare(sql).await.unwrap();
        let described = columns(statement.columns());
        let expected = vec![
            Column {
                name: "a".into(),
                data_type: DbDataType::Int32,
            },
            Column {
                name: "b".into(),
                data_type: DbDataType::Str,
            },
            Column {
                name: "c".into(),
                data_type: DbDataType::Decimal,
            },
            Column {
                name: "d".into(),
                data_type: DbDataType::ArrayInt64,
            },
            Column {
                name: "e".into(),
                data_type: DbDataType::RangeDecimal,
            },
            Column {
                name: "f".into(),
                data_type: DbDataType::Other("inet".into()),
            },
        ];
        assert_eq!(debug(&described), debug(&expected));
    }

    #[tokio::test]
    async fn unsupported_types_come_back_as_their_raw_bytes() {
        let client = connect().await;
        let row = client
            .query_one("SELECT '192.168.0.1'::inet", &[])
            .await
            .unwrap();
        let values = convert_row(&row).unwrap();
        let expected = vec![DbValue::Unsupported(vec![2, 32, 0, 4, 192, 168, 0, 1])];
        assert_eq!(debug(&values), debug(&expected));
    }

    #[tokio::test]
    async fn empty_and_unbounded_ranges_decode_to_missing_bounds() {
        let client = connect().await;
        let sql = "SELECT 'empty'::int4range, '(,)'::int8range, '(,3.5]'::numrange";
        let row = client.query_one(sql, &[]).await.unwrap();
        let expected = vec![
            DbValue::RangeInt32((None, None)),
            DbValue::RangeInt64((None, None)),
            DbValue::RangeDecimal((None, Some(("3.5".into(), Inclusive)))),
        ];
        assert_eq!(debug(&convert_row(&row).unwrap()), debug(&expected));
    }

    #[tokio::test]
    async fn decimals_reach_the_server_with_their_exact_value_and_scale() {
        let client = connect().await;
        let cases = [
            ("12.50", "12.50"),
            ("0", "0"),
            ("0.0000", "0.0000"),
            ("-0.001", "-0.001"),
            ("+7", "7"),
            ("100000000", "100000000"),
            ("-123456789.000001", "-123456789.000001"),
            (
                "12345678901234567890.123456789012345",
                "12345678901234567890.123456789012345",
            ),
            ("1e3", "1000"),
            ("1.5E-3", "0.0015"),
            ("NaN", "NaN"),
            ("-Infinity", "-Infinity"),
        ];
        for (sent, expected) in cases {
            let param = Param(ParameterValue::Decimal(sent.into()));
            let sql = "SELECT $1::numeric::text, $1::numeric";
            let row = client.query_one(sql, &[&param]).await.unwrap();
            let server_text: String = row.get(0);
            assert_eq!(server_text, expected, "server's view of {sent}");
            let decoded = convert_row(&row).unwrap();
            let want = DbValue::Decimal(expected.into());
            assert_eq!(debug(&decoded[1]), debug(&want), "decoding of {sent}");
        }
    }

    #[tokio::test]
    async fn an_int32_parameter_widens_into_a_bigint_column() {
        let client = connect().await;
        client
            .batch_execute("CREATE TEMP TABLE wide (n BIGINT)")
            .await
            .unwrap();
        let param = Param(ParameterValue::Int32(-42));
        client
            .execute("INSERT INTO wide VALUES ($1)", &[&param])
            .await
            .unwrap();
        let row = client.query_one("SELECT n FROM wide", &[]).await.unwrap();
        assert_eq!(
            debug(&convert_row(&row).unwrap()),
            debug(&vec![DbValue::Int64(-42)])
        );
    }

    #[tokio::test]
    async fn a_str_parameter_into_an_int4_column_is_a_bad_parameter() {
        let client = connect().await;
        client
            .batch_execute("CREATE TEMP TABLE narrow (n INT4)")
            .await
            .unwrap();
        let param = Param(ParameterValue::Str("seven".into()));
        let err = client
            .execute("INSERT INTO narrow VALUES ($1)", &[&param])
            .await
            .unwrap_err();
        match query_error(err) {
            Error::BadParameter(message) => {
                assert!(message.contains("cannot encode str as int4"), "{message}");
            }
            other => panic!("expected BadParameter, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_int64_too_large_for_int4_is_rejected_with_a_clear_message() {
        let client = connect().await;
        let param = Param(ParameterValue::Int64(5_000_000_000));
        let err = client
            .query_one("SELECT $1::int4", &[&param])
            .await
            .unwrap_err();
        match query_error(err) {
            Error::BadParameter(message) => {
                assert!(message.contains("cannot encode int64 as int4"), "{message}");
                assert!(message.contains("out of range"), "{message}");
            }
            other => panic!("expected BadParameter, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_mismatched_case_names_the_case_and_the_postgres_type() {
        let client = connect().await;
        let param = Param(ParameterValue::Int32(1));
        let err = client
            .query_one("SELECT $1::uuid", &[&param])
            .await
            .unwrap_err();
        let message = debug(&query_error(err));
        assert!(message.contains("cannot encode int32 as uuid"), "{message}");
        let param = Param(ParameterValue::ArrayInt32(vec![Some(1)]));
        let err = client
            .query_one("SELECT $1::uuid[]", &[&param])
            .await
            .unwrap_err();
        let message = debug(&query_error(err));
        assert!(
            message.contains("cannot encode array-int32 as uuid[]"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_unique_violation_is_a_db_error_with_sqlstate_23505() {
        let client = connect().await;
        client
            .batch_execute("CREATE TEMP TABLE once (id INT4 PRIMARY KEY)")
            .await
            .unwrap();
        let param = Param(ParameterValue::Int32(1));
        let insert = "INSERT INTO once VALUES ($1)";
        client.execute(insert, &[&param]).await.unwrap();
        let err = client.execute(insert, &[&param]).await.unwrap_err();
        match query_error(err) {
            Error::QueryFailed(QueryError::DbError(db)) => {
                assert_eq!(db.code, "23505");
                assert_eq!(db.severity, "ERROR");
                assert!(db.message.contains("duplicate key"), "{}", db.message);
                assert!(db.detail.is_some_and(|d| d.contains("(id)=(1)")));
                assert!(
                    db.extras
                        .iter()
                        .any(|(k, v)| k == "constraint" && v == "once_pkey")
                );
                assert!(db.as_text.contains("duplicate key"), "{}", db.as_text);
            }
            other => panic!("expected DbError, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_closed_connection_is_a_connection_failure() {
        let (client, connection) = tokio_postgres::connect(LOCAL_POSTGRES, NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        task.abort();
        let _ = task.await;
        let err = client.query_one("SELECT 1", &[]).await.unwrap_err();
        assert!(matches!(query_error(err), Error::ConnectionFailed(_)));
    }

    #[test]
    fn numeric_text_survives_encoding_and_decoding() {
        for text in [
            "0",
            "1",
            "-1",
            "9999",
            "10000",
            "0.0001",
            "0.00001",
            "1234.5678",
            "3.14159",
        ] {
            let mut buf = BytesMut::new();
            write_numeric(&parse_numeric(text).unwrap(), &mut buf).unwrap();
            assert_eq!(format_numeric(&read_numeric(&buf).unwrap()), text);
        }
    }

    #[test]
    fn malformed_decimals_are_rejected() {
        for text in ["", ".", "1.2.3", "12a", "--1", "1e", "e5"] {
            assert!(parse_numeric(text).is_err(), "{text:?} was accepted");
        }
    }
}
