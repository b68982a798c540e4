//! Lowering the policies that guard operations: auth (public, authenticated, roles) and
//! rate limits (inline, named in `cmmv.yaml`, lists; keys and fail modes).

use super::*;

impl Lowerer<'_> {
    pub(super) fn auth(&mut self, node: &Node) -> Option<AuthPolicy> {
        const WORDS: &[&str] = &["public", "authenticated"];
        if let Some(Yaml::Str(word)) = node.scalar() {
            return match word {
                "public" => Some(AuthPolicy::Public),
                "authenticated" => Some(AuthPolicy::Authenticated),
                other => {
                    let help = match suggest(other, WORDS.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "use `public`, `authenticated` or `{ roles: [admin] }`".to_owned(),
                    };
                    self.error(node.span, format!("unknown auth policy `{other}`"))
                        .with_help(help)
                        .emit(self.diags);
                    None
                }
            };
        }
        let object = self.object(node, "`auth`", AUTH_KEYS)?;
        let Some(roles_node) = object.get("roles") else {
            self.error(object.span, "an auth map needs `roles`")
                .with_help("write `auth: { roles: [admin] }`, or `auth: authenticated`")
                .emit(self.diags);
            return None;
        };
        let roles = self.string_list(roles_node)?;
        if roles.is_empty() {
            self.error(roles_node.span, "`roles` is empty")
                .with_help("list at least one role, or use `auth: authenticated`")
                .emit(self.diags);
            return None;
        }
        let mut set = BTreeSet::new();
        for (role, span) in roles {
            let valid = !role.is_empty()
                && role
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'));
            if !valid {
                self.error(span, format!("invalid role name `{role}`"))
                    .with_help("role names use letters, digits, `_`, `-`, `:` and `.`")
                    .emit(self.diags);
            } else if !set.insert(role.clone()) {
                self.error(span, format!("role `{role}` is listed twice"))
                    .emit(self.diags);
            }
        }
        let mode = match object.get("require") {
            None => RoleMode::Any,
            Some(node) => match node.scalar() {
                Some(Yaml::Str("any")) => RoleMode::Any,
                Some(Yaml::Str("all")) => RoleMode::All,
                _ => {
                    self.error(node.span, "`require` must be `any` or `all`")
                        .with_help("`any`: one of the roles suffices (the default); `all`: every role is needed")
                        .emit(self.diags);
                    RoleMode::Any
                }
            },
        };
        Some(AuthPolicy::Roles { roles: set, mode })
    }

    pub(super) fn rate_limit(&mut self, node: &Node) -> Option<RateLimit> {
        match &node.kind {
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    self.error(node.span, "an empty rate-limit list")
                        .with_help("write `rate_limit: none` for no limit")
                        .emit(self.diags);
                    return None;
                }
                let policies: Vec<RateLimitPolicy> = items
                    .iter()
                    .filter_map(|item| self.rate_limit_entry(item))
                    .collect();
                Some(RateLimit::Policies(policies))
            }
            _ if matches!(node.scalar(), Some(Yaml::Str("none"))) => Some(RateLimit::Unlimited),
            _ => self
                .rate_limit_entry(node)
                .map(|policy| RateLimit::Policies(vec![policy])),
        }
    }

    /// One policy: a map, or the name of a policy from `cmmv.yaml`.
    pub(super) fn rate_limit_entry(&mut self, node: &Node) -> Option<RateLimitPolicy> {
        if let Some(Yaml::Str(name)) = node.scalar() {
            if let Some(policy) = self.named_limits.get(name) {
                return Some(RateLimitPolicy {
                    span: node.span,
                    ..policy.clone()
                });
            }
            let help = match suggest(name, self.named_limits.keys().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`?"),
                None if self.named_limits.is_empty() => {
                    "declare named policies under `rate_limits:` in cmmv.yaml, or write `{ limit: 100, per: 1m }`".to_owned()
                }
                None => format!(
                    "the named policies are: {}",
                    self.named_limits.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            };
            self.error(node.span, format!("unknown rate-limit policy `{name}`"))
                .with_label("not declared in cmmv.yaml")
                .with_help(help)
                .emit(self.diags);
            return None;
        }
        self.rate_limit_policy(node)
    }

    pub(super) fn rate_limit_policy(&mut self, node: &Node) -> Option<RateLimitPolicy> {
        let object = self.object(node, "a rate limit", RATE_LIMIT_KEYS)?;
        let limit = match object.get("limit") {
            Some(n) => self.positive_u32(n, "`limit`"),
            None => {
                self.error(object.span, "a rate limit needs `limit`")
                    .with_help("e.g. `{ limit: 100, per: 1m }`")
                    .emit(self.diags);
                None
            }
        };
        let period_secs = match object.get("per") {
            Some(n) => self.duration(n),
            None => {
                self.error(object.span, "a rate limit needs `per`")
                    .with_help("the period: `1s`, `1m`, `1h` or `1d`")
                    .emit(self.diags);
                None
            }
        };
        let burst = object
            .get("burst")
            .and_then(|n| self.positive_u32(n, "`burst`"));
        let key = object
            .get("key")
            .and_then(|n| self.rate_key(n))
            .unwrap_or(RateKey::Ip);
        let on_error = object
            .get("on_error")
            .map_or(Some(RateFailMode::App), |n| self.rate_fail_mode(n));
        Some(RateLimitPolicy {
            name: None,
            limit: limit?,
            period_secs: period_secs?,
            burst: burst.or(limit)?,
            key,
            on_error: on_error?,
            span: node.span,
        })
    }

    /// `on_error: open | closed | local`.
    pub(super) fn rate_fail_mode(&mut self, node: &Node) -> Option<RateFailMode> {
        let found = match node.scalar() {
            Some(Yaml::Str(text)) => RateFailMode::ALL
                .iter()
                .find(|(name, _)| *name == text)
                .map(|(_, mode)| *mode),
            _ => None,
        };
        if found.is_none() {
            self.error(node.span, "`on_error` must be `open`, `closed` or `local`")
                .with_help("what a request gets when the shared limiter cannot decide: `open` admits it, `closed` answers 503, `local` lets this instance's own limiter decide; without `on_error`, the app's `CMMV_RATE_LIMIT_FAIL` says")
                .emit(self.diags);
        }
        found
    }

    pub(super) fn positive_u32(&mut self, node: &Node, what: &str) -> Option<u32> {
        match node.scalar() {
            Some(Yaml::Int(i)) if i >= 1 && i <= i64::from(u32::MAX) => Some(i as u32),
            _ => {
                let found = node
                    .scalar_text()
                    .map_or_else(|| node.describe().to_owned(), |t| format!("`{t}`"));
                self.error(node.span, format!("{what} must be a positive integer"))
                    .with_label(format!("found {found}"))
                    .emit(self.diags);
                None
            }
        }
    }

    pub(super) fn duration(&mut self, node: &Node) -> Option<u64> {
        let text = match node.scalar() {
            Some(Yaml::Int(i)) if i >= 1 => return Some(i as u64),
            Some(Yaml::Str(s)) => s,
            _ => "",
        };
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let count: Option<u64> = if digits.is_empty() {
            Some(1)
        } else {
            digits.parse().ok()
        };
        let unit_secs = match unit {
            "s" => Some(1),
            "m" => Some(60),
            "h" => Some(3600),
            "d" => Some(86_400),
            _ => None,
        };
        match (count, unit_secs) {
            (Some(count), Some(unit)) if count >= 1 => Some(count * unit),
            _ => {
                self.error(node.span, format!("invalid period `{}`", node.scalar_text().unwrap_or_default()))
                    .with_label("expected a duration")
                    .with_help("write a count and a unit: `1s`, `10s`, `1m`, `1h`, `1d` (or a number of seconds)")
                    .emit(self.diags);
                None
            }
        }
    }

    pub(super) fn rate_key(&mut self, node: &Node) -> Option<RateKey> {
        const KEYS: &[&str] = &["ip", "user", "api_key", "header:", "custom:"];
        let text = self.string(node)?;
        let key = match text.as_str() {
            "ip" => Some(RateKey::Ip),
            "user" => Some(RateKey::User),
            "api_key" => Some(RateKey::ApiKey),
            other => {
                if let Some(header) = other.strip_prefix("header:") {
                    let valid = !header.is_empty()
                        && header
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                    valid.then(|| RateKey::Header(header.to_ascii_lowercase()))
                } else if let Some(name) = other.strip_prefix("custom:") {
                    is_snake_case(name).then(|| RateKey::Custom(name.to_owned()))
                } else {
                    None
                }
            }
        };
        if key.is_none() {
            let help = match suggest(&text, KEYS.iter().copied()) {
                Some(best) => format!(
                    "did you mean `{best}`? (keys: ip, user, api_key, header:<Name>, custom:<name>)"
                ),
                None => {
                    "use `ip`, `user`, `api_key`, `header:<Name>` or `custom:<name>`".to_owned()
                }
            };
            self.error(node.span, format!("unknown rate-limit key `{text}`"))
                .with_help(help)
                .emit(self.diags);
        }
        key
    }
}
