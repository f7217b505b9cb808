//! The plan builder: the job graph `weir_plan` returns (SPEC §7).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::error::{Error, Result};

struct Node {
    id: Option<String>,
    kind: &'static str,
    connector: String,
    function: String,
    fparams: String,
    cparams: BTreeMap<String, String>,
    inputs: Vec<usize>,
    key_by: Vec<String>,
    partition: Option<&'static str>,
    parallelism: u32,
    name: String,
}

#[derive(Default)]
struct Inner {
    nodes: Vec<Node>,
    errors: Vec<String>,
}

/// The job graph a module returns from `weir_plan`.
///
/// ```
/// use weir::Plan;
///
/// let p = Plan::new("wordcount").parallelism(2);
/// p.source("file", [("path", "in.txt"), ("format", "lines")]).id("lines").parallelism(1)
///     .flat_map("tokenize").id("words")
///     .key_by(&["word"]).process("count").id("counts")
///     .sink("file", [("path", "out"), ("format", "jsonl")]).id("out");
/// let json = p.to_json()?;
/// assert!(json.starts_with(r#"{"weir_plan":1,"name":"wordcount","parallelism":2,"nodes":["#));
/// # Ok::<(), weir::Error>(())
/// ```
///
/// Node ids are generated from the function or connector name and made
/// unique; [`Stream::id`] overrides them. Mistakes (a process without
/// `key_by`, a duplicate id, ...) are reported by [`Plan::to_json`]. The JSON
/// is byte for byte what the Go SDK produces for the same plan.
pub struct Plan {
    name: String,
    parallelism: u32,
    max_parallelism: u32,
    config: BTreeMap<String, String>,
    inner: RefCell<Inner>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plan({:?}, {} nodes)", self.name, self.inner.borrow().nodes.len())
    }
}

fn params_map<K: Into<String>, V: Into<String>>(params: impl IntoIterator<Item = (K, V)>) -> BTreeMap<String, String> {
    params.into_iter().map(|(k, v)| (k.into(), v.into())).collect()
}

impl Plan {
    /// A plan for the job called `name`.
    pub fn new(name: impl Into<String>) -> Plan {
        Plan {
            name: name.into(),
            parallelism: 0,
            max_parallelism: 0,
            config: BTreeMap::new(),
            inner: RefCell::new(Inner::default()),
        }
    }

    fn error(&self, msg: String) {
        self.inner.borrow_mut().errors.push(msg);
    }

    /// Sets the job's default parallelism (default 1; at least 1).
    pub fn parallelism(mut self, n: u32) -> Plan {
        if n < 1 {
            self.error(format!("job parallelism {}: must be at least 1", n));
        }
        self.parallelism = n;
        self
    }

    /// Sets the number of key groups (default 128), the upper bound of any
    /// parallelism when rescaling keyed state.
    pub fn max_parallelism(mut self, n: u32) -> Plan {
        if n < 1 {
            self.error(format!("max parallelism {}: must be at least 1", n));
        }
        self.max_parallelism = n;
        self
    }

    /// Sets a job configuration entry, such as
    /// `pipeline.buffer-timeout` = `100ms`.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Plan {
        self.config.insert(key.into(), value.into());
        self
    }

    fn push(&self, n: Node) -> usize {
        let mut inner = self.inner.borrow_mut();
        inner.nodes.push(n);
        inner.nodes.len() - 1
    }

    /// Adds a source node reading from the native connector `connector`,
    /// configured by `params` (`[("path", "in.txt"), ("format", "lines")]`).
    pub fn source<K: Into<String>, V: Into<String>>(
        &self,
        connector: &str,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Stream<'_> {
        if connector.is_empty() {
            self.error("source with no connector name".to_string());
        }
        let i = self.push(Node {
            id: None,
            kind: "source",
            connector: connector.to_string(),
            function: String::new(),
            fparams: String::new(),
            cparams: params_map(params),
            inputs: Vec::new(),
            key_by: Vec::new(),
            partition: None,
            parallelism: 0,
            name: String::new(),
        });
        Stream { plan: self, node: Some(i), inputs: vec![i], key_by: Vec::new(), partition: None }
    }

    /// The first mistake recorded while building the plan.
    pub fn err(&self) -> Option<Error> {
        self.inner.borrow().errors.first().map(|e| crate::err!("plan {}: {}", go_quote(&self.name), e))
    }

    /// Validates the plan and returns it as the JSON document of SPEC §7.
    pub fn to_json(&self) -> Result<String> {
        if let Some(e) = self.err() {
            return Err(e);
        }
        let fail = |msg: String| Err(crate::err!("plan {}: {}", go_quote(&self.name), msg));
        if self.name.is_empty() {
            return Err(Error::new("plan: the job has no name"));
        }
        let inner = self.inner.borrow();
        if inner.nodes.is_empty() {
            return fail("no nodes".to_string());
        }
        let ids = match assign_ids(&inner.nodes) {
            Ok(ids) => ids,
            Err(e) => return fail(e),
        };
        let max_par = if self.max_parallelism == 0 { 128 } else { self.max_parallelism };
        if self.parallelism > max_par {
            return fail(format!("parallelism {} exceeds max parallelism {}", self.parallelism, max_par));
        }
        let mut out = String::with_capacity(256 + 160 * inner.nodes.len());
        out.push_str("{\"weir_plan\":1,\"name\":");
        json_string(&mut out, &self.name);
        if self.parallelism != 0 {
            let _ = write!(out, ",\"parallelism\":{}", self.parallelism);
        }
        if self.max_parallelism != 0 {
            let _ = write!(out, ",\"maxParallelism\":{}", self.max_parallelism);
        }
        if !self.config.is_empty() {
            out.push_str(",\"config\":");
            json_map(&mut out, &self.config);
        }
        out.push_str(",\"nodes\":[");
        for (k, n) in inner.nodes.iter().enumerate() {
            let id = &ids[k];
            for &i in &n.inputs {
                if inner.nodes[i].kind == "sink" {
                    return fail(format!("node {} reads from sink {}", go_quote(id), go_quote(&ids[i])));
                }
            }
            if n.kind != "source" && n.inputs.is_empty() {
                return fail(format!("node {} has no inputs", go_quote(id)));
            }
            if n.kind == "process" && n.key_by.is_empty() {
                return fail(format!("process node {} needs KeyBy", go_quote(id)));
            }
            if n.parallelism > max_par {
                return fail(format!(
                    "node {}: parallelism {} exceeds max parallelism {}",
                    go_quote(id),
                    n.parallelism,
                    max_par
                ));
            }
            if k > 0 {
                out.push(',');
            }
            out.push_str("{\"id\":");
            json_string(&mut out, id);
            out.push_str(",\"kind\":");
            json_string(&mut out, n.kind);
            if !n.connector.is_empty() {
                out.push_str(",\"connector\":");
                json_string(&mut out, &n.connector);
            }
            if !n.function.is_empty() {
                out.push_str(",\"function\":");
                json_string(&mut out, &n.function);
            }
            if n.kind == "source" || n.kind == "sink" {
                if !n.cparams.is_empty() {
                    out.push_str(",\"params\":");
                    json_map(&mut out, &n.cparams);
                }
            } else if !n.fparams.is_empty() {
                out.push_str(",\"params\":");
                json_string(&mut out, &n.fparams);
            }
            if !n.inputs.is_empty() {
                out.push_str(",\"inputs\":[");
                for (m, &i) in n.inputs.iter().enumerate() {
                    if m > 0 {
                        out.push(',');
                    }
                    json_string(&mut out, &ids[i]);
                }
                out.push(']');
            }
            if !n.key_by.is_empty() {
                out.push_str(",\"keyBy\":[");
                for (m, c) in n.key_by.iter().enumerate() {
                    if m > 0 {
                        out.push(',');
                    }
                    json_string(&mut out, c);
                }
                out.push(']');
            }
            if let Some(p) = n.partition {
                out.push_str(",\"partition\":");
                json_string(&mut out, p);
            }
            if n.parallelism != 0 {
                let _ = write!(out, ",\"parallelism\":{}", n.parallelism);
            }
            if !n.name.is_empty() {
                out.push_str(",\"name\":");
                json_string(&mut out, &n.name);
            }
            out.push('}');
        }
        out.push_str("]}");
        Ok(out)
    }
}

fn valid_id_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-'
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(valid_id_byte)
}

fn sanitize_id(s: &str) -> String {
    let mut b: Vec<u8> = s.bytes().map(|c| if valid_id_byte(c) { c } else { b'_' }).collect();
    b.truncate(56);
    if b.is_empty() {
        return "node".to_string();
    }
    // Only ASCII bytes remain.
    String::from_utf8(b).unwrap_or_else(|_| "node".to_string())
}

/// Gives every node an id: its explicit one (checked) or a unique generated
/// one.
fn assign_ids(nodes: &[Node]) -> std::result::Result<Vec<String>, String> {
    let mut ids = vec![String::new(); nodes.len()];
    let mut used = BTreeSet::new();
    for (k, n) in nodes.iter().enumerate() {
        if let Some(id) = &n.id {
            if !valid_id(id) {
                return Err(format!("node id {}: must match [A-Za-z0-9_.-]{{1,64}}", go_quote(id)));
            }
            if !used.insert(id.clone()) {
                return Err(format!("duplicate node id {}", go_quote(id)));
            }
            ids[k] = id.clone();
        }
    }
    for (k, n) in nodes.iter().enumerate() {
        if n.id.is_some() {
            continue;
        }
        let base = if n.kind == "source" || n.kind == "sink" {
            sanitize_id(&format!("{}-{}", n.kind, n.connector))
        } else {
            sanitize_id(&n.function)
        };
        let mut id = base.clone();
        let mut m = 2;
        while used.contains(&id) {
            id = format!("{}-{}", base, m);
            m += 1;
        }
        used.insert(id.clone());
        ids[k] = id;
    }
    Ok(ids)
}

/// Quotes like Go's `%q` for the plain strings of plan messages.
fn go_quote(s: &str) -> String {
    format!("{:?}", s)
}

/// Appends `s` as a JSON string, escaped exactly as Go's encoding/json does
/// (HTML-safe: `<`, `>` and `&` as `\u00XX`; U+2028 and U+2029 escaped).
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            _ => None,
        };
        let needs = esc.is_some() || (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
        if !needs {
            continue;
        }
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn json_map(out: &mut String, m: &BTreeMap<String, String>) {
    out.push('{');
    for (k, (key, v)) in m.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        json_string(out, key);
        out.push(':');
        json_string(out, v);
    }
    out.push('}');
}

/// The output of a plan node (or a union of outputs), to which further nodes
/// are attached. [`Stream::key_by`] and [`Stream::rebalance`] set how the
/// next node's input is partitioned; [`Stream::id`], [`Stream::name`],
/// [`Stream::parallelism`] and [`Stream::params`] configure the node that
/// produced the stream.
#[derive(Clone)]
pub struct Stream<'p> {
    plan: &'p Plan,
    node: Option<usize>,
    inputs: Vec<usize>,
    key_by: Vec<String>,
    partition: Option<&'static str>,
}

impl std::fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stream(node {:?}, inputs {:?})", self.node, self.inputs)
    }
}

impl<'p> Stream<'p> {
    fn add(&self, kind: &'static str, function: &str) -> Stream<'p> {
        if function.is_empty() {
            self.plan.error(format!("{} node with no function name", kind));
        }
        let i = self.plan.push(Node {
            id: None,
            kind,
            connector: String::new(),
            function: function.to_string(),
            fparams: String::new(),
            cparams: BTreeMap::new(),
            inputs: self.inputs.clone(),
            key_by: self.key_by.clone(),
            partition: self.partition,
            parallelism: 0,
            name: String::new(),
        });
        Stream { plan: self.plan, node: Some(i), inputs: vec![i], key_by: Vec::new(), partition: None }
    }

    /// Adds a map node running the registered function.
    pub fn map(&self, function: &str) -> Stream<'p> {
        self.add("map", function)
    }

    /// Adds a flatmap node running the registered function.
    pub fn flat_map(&self, function: &str) -> Stream<'p> {
        self.add("flatmap", function)
    }

    /// Adds a filter node running the registered function.
    pub fn filter(&self, function: &str) -> Stream<'p> {
        self.add("filter", function)
    }

    /// Adds a keyed process node running the registered function; the
    /// stream must be keyed with [`Stream::key_by`].
    pub fn process(&self, function: &str) -> Stream<'p> {
        self.add("process", function)
    }

    /// Adds an aggregate node running the registered function: one
    /// accumulator per key if the stream is keyed, else one per subtask.
    pub fn aggregate(&self, function: &str) -> Stream<'p> {
        self.add("aggregate", function)
    }

    /// Adds a sink node writing to the native connector `connector`.
    pub fn sink<K: Into<String>, V: Into<String>>(
        &self,
        connector: &str,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Stream<'p> {
        if connector.is_empty() {
            self.plan.error("sink with no connector name".to_string());
        }
        let i = self.plan.push(Node {
            id: None,
            kind: "sink",
            connector: connector.to_string(),
            function: String::new(),
            fparams: String::new(),
            cparams: params_map(params),
            inputs: self.inputs.clone(),
            key_by: self.key_by.clone(),
            partition: self.partition,
            parallelism: 0,
            name: String::new(),
        });
        Stream { plan: self.plan, node: Some(i), inputs: vec![i], key_by: Vec::new(), partition: None }
    }

    /// Partitions the next node's input by the hash of the named columns
    /// (into key groups). Process nodes require it.
    pub fn key_by(&self, columns: &[&str]) -> Stream<'p> {
        if columns.is_empty() {
            self.plan.error("KeyBy with no columns".to_string());
        }
        let mut s = self.clone();
        s.key_by = columns.iter().map(|c| c.to_string()).collect();
        s.partition = None;
        s
    }

    /// Distributes the next node's input round-robin over its subtasks.
    pub fn rebalance(&self) -> Stream<'p> {
        let mut s = self.clone();
        s.partition = Some("rebalance");
        s.key_by.clear();
        s
    }

    /// A stream of the outputs of `self` and `others`: the next node has all
    /// of them as inputs.
    pub fn union(&self, others: &[&Stream<'p>]) -> Stream<'p> {
        let mut inputs = self.inputs.clone();
        for o in others {
            if !std::ptr::eq(o.plan, self.plan) {
                self.plan.error("Union of streams of different plans".to_string());
                continue;
            }
            inputs.extend_from_slice(&o.inputs);
        }
        Stream { plan: self.plan, node: None, inputs, key_by: Vec::new(), partition: None }
    }

    fn with_node<F: FnOnce(&mut Node)>(self, what: &str, f: F) -> Stream<'p> {
        match self.node {
            Some(i) => f(&mut self.plan.inner.borrow_mut().nodes[i]),
            None => self.plan.error(format!("{} on a union of streams", what)),
        }
        self
    }

    /// Sets the parallelism of the node that produced the stream.
    pub fn parallelism(self, n: u32) -> Stream<'p> {
        if n < 1 {
            self.plan.error(format!("node parallelism {}: must be at least 1", n));
        }
        self.with_node("Parallelism", |nd| nd.parallelism = n)
    }

    /// Sets the display name of the node that produced the stream.
    pub fn name(self, display: &str) -> Stream<'p> {
        self.with_node("Name", |nd| nd.name = display.to_string())
    }

    /// Sets the id of the node that produced the stream
    /// (`[A-Za-z0-9_.-]{1,64}`, unique in the plan) instead of the generated
    /// one.
    pub fn id(self, id: &str) -> Stream<'p> {
        self.with_node("ID", |nd| nd.id = Some(id.to_string()))
    }

    /// Sets the params string of the function node that produced the
    /// stream, passed verbatim to the function's `open` (see
    /// [`crate::Operator::params`]). An empty string means none.
    pub fn params(self, params: &str) -> Stream<'p> {
        let connector = self.node.map_or(false, |i| {
            let k = self.plan.inner.borrow().nodes[i].kind;
            k == "source" || k == "sink"
        });
        if connector {
            self.plan.error("Params on a connector node".to_string());
            return self;
        }
        self.with_node("Params", |nd| nd.fparams = params.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wordcount_plan_matches_the_go_sdk() {
        let p = Plan::new("wordcount").parallelism(1);
        p.source("file", [("path", "book.txt"), ("format", "lines")])
            .id("lines")
            .parallelism(1)
            .flat_map("tokenize")
            .id("words")
            .key_by(&["word"])
            .process("count")
            .id("counts")
            .sink("file", [("path", "counts"), ("format", "jsonl")])
            .id("out");
        // The Go SDK's examples/wordcount TestPlan expectation.
        let want = r#"{"weir_plan":1,"name":"wordcount","parallelism":1,"nodes":["#.to_string()
            + r#"{"id":"lines","kind":"source","connector":"file","params":{"format":"lines","path":"book.txt"},"parallelism":1},"#
            + r#"{"id":"words","kind":"flatmap","function":"tokenize","inputs":["lines"]},"#
            + r#"{"id":"counts","kind":"process","function":"count","inputs":["words"],"keyBy":["word"]},"#
            + r#"{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"counts"},"inputs":["counts"]}]}"#;
        assert_eq!(p.to_json().unwrap(), want);
    }

    #[test]
    fn generated_ids_params_and_config() {
        let p = Plan::new("j").max_parallelism(8).config("pipeline.buffer-timeout", "100ms").config("a", "<b>");
        let s = p.source("kafka topic", Vec::<(String, String)>::new());
        let a = s.map("f").params("1,2");
        let b = s.rebalance().map("f").name("second f");
        a.union(&[&b]).filter("g").sink("file", [("path", "o")]);
        let want = r#"{"weir_plan":1,"name":"j","maxParallelism":8,"config":{"a":"\u003cb\u003e","pipeline.buffer-timeout":"100ms"},"nodes":["#.to_string()
            + r#"{"id":"source-kafka_topic","kind":"source","connector":"kafka topic"},"#
            + r#"{"id":"f","kind":"map","function":"f","params":"1,2","inputs":["source-kafka_topic"]},"#
            + r#"{"id":"f-2","kind":"map","function":"f","inputs":["source-kafka_topic"],"partition":"rebalance","name":"second f"},"#
            + r#"{"id":"g","kind":"filter","function":"g","inputs":["f","f-2"]},"#
            + r#"{"id":"sink-file","kind":"sink","connector":"file","params":{"path":"o"},"inputs":["g"]}]}"#;
        assert_eq!(p.to_json().unwrap(), want);
    }

    #[test]
    fn mistakes() {
        type Build = fn(&Plan);
        let cases: Vec<(&str, Build, &str)> = vec![
            ("p", |_| {}, "plan \"p\": no nodes"),
            (
                "",
                |p| {
                    p.source("x", [("a", "b")]);
                },
                "plan: the job has no name",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).key_by(&["k"]).map("m").process("c");
                },
                "plan \"p\": process node \"c\" needs KeyBy",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).id("a").map("m").id("a");
                },
                "plan \"p\": duplicate node id \"a\"",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).id("a b");
                },
                "plan \"p\": node id \"a b\": must match [A-Za-z0-9_.-]{1,64}",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).sink("y", [("a", "b")]).map("m");
                },
                "plan \"p\": node \"m\" reads from sink \"sink-y\"",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).map("m").parallelism(0);
                },
                "plan \"p\": node parallelism 0: must be at least 1",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).map("m").parallelism(200);
                },
                "plan \"p\": node \"m\": parallelism 200 exceeds max parallelism 128",
            ),
            (
                "p",
                |p| {
                    p.source("", [("a", "b")]);
                },
                "plan \"p\": source with no connector name",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).map("");
                },
                "plan \"p\": map node with no function name",
            ),
            (
                "p",
                |p| {
                    let s = p.source("x", [("a", "b")]);
                    s.union(&[&s]).id("u");
                },
                "plan \"p\": ID on a union of streams",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).key_by(&[]);
                },
                "plan \"p\": KeyBy with no columns",
            ),
            (
                "p",
                |p| {
                    p.source("x", [("a", "b")]).params("z");
                },
                "plan \"p\": Params on a connector node",
            ),
        ];
        for (name, build, want) in cases {
            let p = Plan::new(name);
            build(&p);
            assert_eq!(p.to_json().unwrap_err().message(), want);
        }
        let p = Plan::new("p").parallelism(300);
        p.source("x", [("a", "b")]);
        assert_eq!(p.to_json().unwrap_err().message(), "plan \"p\": parallelism 300 exceeds max parallelism 128");
    }

    #[test]
    fn json_escaping_matches_go() {
        // Go: json.Marshal("a\"\\\b\f\n\r\t\x01\x1f<>&\u2028\u2029é💥\x7f")
        let mut out = String::new();
        json_string(&mut out, "a\"\\\u{8}\u{c}\n\r\t\u{1}\u{1f}<>&\u{2028}\u{2029}é💥\u{7f}");
        assert_eq!(out, "\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\\u003c\\u003e\\u0026\\u2028\\u2029é💥\u{7f}\"");
    }
}
