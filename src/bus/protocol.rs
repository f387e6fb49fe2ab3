//! Decoding of the consumer protocol's member assignment, the opaque bytes a broker returns
//! in DescribeGroups: `Version:i16, [Topic:string, [Partition:i32]], UserData:bytes`. The
//! bytes come from the network, so every length is checked; garbage gives `None`.

/// The (topic, partition) pairs of a member's assignment.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    let mut r = Reader { bytes, at: 0 };
    let _version = r.i16()?;
    let topics = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let name_len = r.i16()?;
        let name = String::from_utf8(r.take(usize::try_from(name_len).ok()?)?.to_vec()).ok()?;
        let partitions = r.i32()?;
        for _ in 0..partitions.max(0) {
            out.push((name.clone(), r.i32()?));
        }
    }
    Some(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(1i16.to_be_bytes());
        b.extend((topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes()); // null user data
        b
    }

    #[test]
    fn decodes_topics_and_partitions() {
        let b = encode(&[("platform.messages.created", &[0, 2]), ("t2", &[1])]);
        assert_eq!(
            decode_assignment(&b),
            Some(vec![
                ("platform.messages.created".into(), 0),
                ("platform.messages.created".into(), 2),
                ("t2".into(), 1)
            ])
        );
    }

    #[test]
    fn an_empty_assignment_is_empty() {
        assert_eq!(decode_assignment(&encode(&[])), Some(vec![]));
    }

    #[test]
    fn truncated_or_garbage_bytes_are_rejected_without_panicking() {
        let b = encode(&[("topic", &[0, 1, 2])]);
        for cut in 0..b.len() - 4 {
            assert_eq!(decode_assignment(&b[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode_assignment(&[0, 1, 0x7f, 0xff, 0xff, 0xff]), None);
    }
}
