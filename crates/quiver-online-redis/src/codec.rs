//! [`Keys`]: the names of the Redis keys a store uses. Values are
//! [`quiver_online::codec`] bytes, unchanged; the crate docs explain the
//! layout and its hash tags.
//!
//! ```text
//! <prefix>:<view>:meta                   hash: generation, next_generation, layout, layout_digest, offline_version
//! <prefix>:<view>:<generation>:{<key>}   string: the row, quiver_online::codec bytes
//! ```
//!
//! The prefix and the view are escaped ([`escape`]) so that neither can
//! contain `:`, `{` or `}`: keys of different views never collide, and the
//! only hash tag in a row key is the one around the entity key. The entity
//! key comes last and is written as it is, so it needs no escaping.

/// Key names for one store (one prefix).
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// The escaped prefix followed by `:`.
    base: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Keys {
        let mut base = escape(prefix);
        base.push(':');
        Keys { base }
    }

    /// `<prefix>:<view>:`, with which every key of `view` starts.
    fn view_base(&self, view: &str) -> String {
        let mut key = self.base.clone();
        key.push_str(&escape(view));
        key.push(':');
        key
    }

    /// The hash holding the view's layout, generations and offline version.
    pub fn meta(&self, view: &str) -> String {
        let mut key = self.view_base(view);
        key.push_str("meta");
        key
    }

    /// A builder of the row keys of `view` at `generation`.
    pub fn rows(&self, view: &str, generation: u64) -> RowKeys {
        let mut stem = self.view_base(view);
        stem.push_str(&generation.to_string());
        stem.push_str(":{");
        RowKeys {
            stem_len: stem.len(),
            key: stem,
        }
    }

    /// A `SCAN MATCH` pattern for every key of `view` (its meta key included).
    pub fn view_pattern(&self, view: &str) -> String {
        let mut pattern = String::new();
        for c in self.view_base(view).chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// The generation of a row key of `view`, or `None` for its meta key and
    /// for keys that are not this store's.
    pub fn generation_of(&self, view: &str, key: &[u8]) -> Option<u64> {
        let rest = key.strip_prefix(self.view_base(view).as_bytes())?;
        let end = rest.iter().position(|b| *b == b':')?;
        if rest.get(end + 1) != Some(&b'{') {
            return None;
        }
        std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
    }
}

/// Row keys of one view and generation, built without allocating per key.
pub(crate) struct RowKeys {
    key: String,
    stem_len: usize,
}

impl RowKeys {
    /// The key of `entity`'s row; valid until the next call.
    pub fn key(&mut self, entity: &str) -> &str {
        self.key.truncate(self.stem_len);
        self.key.push_str(entity);
        self.key.push('}');
        &self.key
    }
}

/// `s` with `%`, `:`, `{` and `}` percent-encoded. Quiver's names are
/// identifiers, so in practice this only ever copies; it is here so that a
/// `key_prefix` such as `team:{a}` still gives unambiguous keys.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_documented() {
        let keys = Keys::new("energy");
        assert_eq!(keys.meta("energy_features"), "energy:energy_features:meta");
        let mut rows = keys.rows("energy_features", 3);
        assert_eq!(
            rows.key("MAC000002"),
            "energy:energy_features:3:{MAC000002}"
        );
        assert_eq!(rows.key("7"), "energy:energy_features:3:{7}");
    }

    #[test]
    fn names_that_prefix_each_other_or_carry_separators_never_collide() {
        let keys = Keys::new("p");
        assert_ne!(keys.rows("v", 1).key("a"), keys.rows("v2", 1).key("a"));
        let odd = Keys::new("a:{b}");
        assert_eq!(odd.meta("v"), "a%3A%7Bb%7D:v:meta");
        // The view `v:1` at generation 2 against the view `v` at generation 1.
        assert_ne!(keys.rows("v:1", 2).key("x"), keys.rows("v", 1).key("2:{x"));
        assert_eq!(escape("100%"), "100%25");
    }

    #[test]
    fn the_only_hash_tag_of_a_row_key_is_its_entity_key() {
        // Redis Cluster hashes the text between the first `{` and the next `}`.
        fn hash_tag(key: &str) -> &str {
            let open = key.find('{').unwrap();
            let close = key[open + 1..].find('}').unwrap();
            &key[open + 1..open + 1 + close]
        }
        let keys = Keys::new("team{1}");
        assert_eq!(hash_tag(keys.rows("view{2}", 7).key("MAC1")), "MAC1");
        assert!(!keys.meta("v").contains('{'));
    }

    #[test]
    fn generations_are_read_back_from_row_keys_only() {
        let keys = Keys::new("p");
        let row = keys.rows("v", 12).key("a:1:{b}").to_string();
        assert_eq!(keys.generation_of("v", row.as_bytes()), Some(12));
        assert_eq!(keys.generation_of("v", keys.meta("v").as_bytes()), None);
        assert_eq!(keys.generation_of("v2", row.as_bytes()), None);
        assert_eq!(keys.generation_of("v", b"p:v:x:{a}"), None);
    }

    #[test]
    fn scan_patterns_escape_glob_characters() {
        assert_eq!(Keys::new("a*b").view_pattern("v"), "a\\*b:v:*");
    }
}
