//! The primitives of the compact record layout: unsigned LEB128 integers,
//! length-prefixed strings and byte strings, fixed 32-byte hashes, and a
//! presence byte before optional values. Nothing is self-describing: the
//! layout of each record type is the order in which
//! [`super::records`] writes its fields, and the tag byte in front of the
//! record names that layout.

use latchkey::clock::Timestamp;
use latchkey::scope::ScopeSet;

use crate::error::Failure;

/// Appends fields to a record being encoded.
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }

    /// Unsigned LEB128: timestamps and counters take 1–5 bytes, not 8.
    pub(crate) fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            // Truncation is the point: the low seven bits, with the
            // continuation bit set.
            #[allow(clippy::cast_possible_truncation)]
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        #[allow(clippy::cast_possible_truncation)]
        self.0.push(v as u8);
    }

    pub(crate) fn time(&mut self, t: Timestamp) {
        self.uint(t.0);
    }

    pub(crate) fn hash(&mut self, h: &[u8; 32]) {
        self.0.extend_from_slice(h);
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.uint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub(crate) fn strs<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a str>) {
        self.uint(items.len() as u64);
        for s in items {
            self.str(s);
        }
    }

    pub(crate) fn scopes(&mut self, s: &ScopeSet) {
        self.uint(s.len() as u64);
        for t in s.iter() {
            self.str(t);
        }
    }

    /// A presence byte, then the value if there is one.
    pub(crate) fn opt<T>(&mut self, v: Option<T>, put: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                put(self, v);
            }
        }
    }
}

/// Reads the fields of a stored record back, in the order they were
/// written. Every shortfall, overlong integer or bad UTF-8 is
/// [`Failure::Corrupt`]: a stored record is never guessed at.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

fn corrupt(what: &str) -> Failure {
    Failure::Corrupt(format!("compact record: {what}"))
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Failure> {
        if self.0.len() < n {
            return Err(corrupt("ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Failure> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn bool(&mut self) -> Result<bool, Failure> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(corrupt("a flag is neither 0 nor 1")),
        }
    }

    pub(crate) fn uint(&mut self) -> Result<u64, Failure> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the top bit of a u64.
            if shift == 63 && bits > 1 {
                return Err(corrupt("an integer overflows 64 bits"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt("an integer overflows 64 bits"))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Failure> {
        u32::try_from(self.uint()?).map_err(|_| corrupt("a count overflows 32 bits"))
    }

    pub(crate) fn time(&mut self) -> Result<Timestamp, Failure> {
        Ok(Timestamp(self.uint()?))
    }

    pub(crate) fn hash(&mut self) -> Result<[u8; 32], Failure> {
        let mut h = [0u8; 32];
        h.copy_from_slice(self.take(32)?);
        Ok(h)
    }

    fn len(&mut self) -> Result<usize, Failure> {
        let n = usize::try_from(self.uint()?).map_err(|_| corrupt("a length overflows"))?;
        // A length can never exceed what is left: refuse before allocating.
        if n > self.0.len() {
            return Err(corrupt("a length runs past the end"));
        }
        Ok(n)
    }

    pub(crate) fn bytes(&mut self) -> Result<Vec<u8>, Failure> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }

    pub(crate) fn str(&mut self) -> Result<String, Failure> {
        let n = self.len()?;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| corrupt("a string is not UTF-8"))
    }

    pub(crate) fn strs(&mut self) -> Result<Vec<String>, Failure> {
        // Each string takes at least its length byte.
        let n = self.len()?;
        (0..n).map(|_| self.str()).collect()
    }

    pub(crate) fn scopes(&mut self) -> Result<ScopeSet, Failure> {
        ScopeSet::from_tokens(self.strs()?)
            .map_err(|_| corrupt("a scope is not a valid scope token"))
    }

    pub(crate) fn opt<T>(
        &mut self,
        get: impl FnOnce(&mut Self) -> Result<T, Failure>,
    ) -> Result<Option<T>, Failure> {
        match self.u8()? {
            0 => Ok(None),
            1 => get(self).map(Some),
            _ => Err(corrupt("a presence byte is neither 0 nor 1")),
        }
    }

    /// Ends a record: bytes left over mean it was not what its tag says.
    pub(crate) fn finish(self) -> Result<(), Failure> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(corrupt("bytes left after the last field"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_at_every_width() {
        for v in [0, 1, 127, 128, 300, 1 << 32, u64::MAX - 1, u64::MAX] {
            let mut w = Writer(Vec::new());
            w.uint(v);
            let mut r = Reader(&w.0);
            assert_eq!(r.uint().unwrap(), v);
            r.finish().unwrap();
        }
    }

    #[test]
    fn malformed_input_is_corrupt_not_a_panic() {
        // Eleven continuation bytes, a tenth byte above one bit, a length
        // past the end, a truncated hash, bad UTF-8, a bad flag.
        for bad in [
            &[0xffu8; 11][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..],
        ] {
            assert!(Reader(bad).uint().is_err());
        }
        assert!(Reader(&[5, b'a']).str().is_err());
        assert!(Reader(&[0u8; 31]).hash().is_err());
        assert!(Reader(&[2, 0xc3, 0x28]).str().is_err());
        assert!(Reader(&[2]).bool().is_err());
        assert!(Reader(&[0xff, 0xff, 0xff, 0xff, 0x0f]).strs().is_err());
        assert!(Reader(&[1]).finish().is_err());
    }
}
