//! The NNEF screen: the archive (its entries, each tensor file's header against the file's
//! size), then `graph.nnef`'s text (its size, bracket nesting and count of numbers, before
//! tract's recursive and slow parser sees it) and its parse: no fragment that calls itself, the
//! operators' arguments of the right kind (a constant where the declaration says integer,
//! logical, scalar or string), and the shapes of the values wherever the text tells them
//! (externals, variables, literals, and the operators a converted model uses), so an axis, a
//! permutation, a shape, a padding or a product that cannot fit its inputs is refused before
//! tract's deserialisers index with it.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use tract_nnef::ast::{
    Argument, Assignment, Document, FragmentDecl, Invocation, LValue, Literal, RValue, TypeSpec,
};
use tract_nnef::internal::Registry;

use super::{
    refuse, MAX_ARCHIVE_ENTRIES, MAX_GRAPH_TEXT_BYTES, MAX_LITERAL_NUMBERS, MAX_NESTING, MAX_NODES,
    MAX_TENSOR_ELEMENTS,
};
use crate::error::Result;

/// A tensor file's header (the NNEF tensor format: 128 bytes).
const TENSOR_HEADER_BYTES: usize = 128;

/// Checks an NNEF archive; `registries` declare the operators the reader knows.
pub fn archive(bytes: &[u8], registries: &[Registry]) -> Result<()> {
    let mut graph = None;
    let mut archive = tar::Archive::new(bytes);
    let entries = archive.entries().map_err(|e| refuse(format!("not an NNEF archive: {e}")))?;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ARCHIVE_ENTRIES {
            return Err(refuse(format!("an archive of more than {MAX_ARCHIVE_ENTRIES} entries")));
        }
        let mut entry = entry.map_err(|e| refuse(format!("not an NNEF archive: {e}")))?;
        let path = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let size = entry.size() as usize;
        if path.ends_with(".dat") {
            let mut header = [0u8; TENSOR_HEADER_BYTES];
            entry.read_exact(&mut header).map_err(|_| refuse(format!("`{path}`: not a tensor file")))?;
            check_tensor_header(&header, size).map_err(|e| refuse(format!("`{path}`: {e}")))?;
        } else if path == "graph.nnef" {
            if size > MAX_GRAPH_TEXT_BYTES {
                return Err(refuse(format!("graph.nnef of {size} bytes (limit {MAX_GRAPH_TEXT_BYTES})")));
            }
            let mut text = String::with_capacity(size);
            entry.read_to_string(&mut text).map_err(|_| refuse("graph.nnef is not UTF-8 text"))?;
            graph = Some(text);
        }
    }
    let text = graph.ok_or_else(|| refuse("the archive has no graph.nnef"))?;
    check_text(&text)?;
    let document =
        tract_nnef::ast::parse::parse_document(&text).map_err(|e| refuse(format!("graph.nnef: {e}")))?;
    check_document(&document, registries)
}

/// A tensor file's header against the file's size: the data it announces is the data there is
/// (tract allocates what the header announces).
fn check_tensor_header(
    header: &[u8; TENSOR_HEADER_BYTES],
    file_size: usize,
) -> std::result::Result<(), String> {
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    if header[..2] != [0x4e, 0xef] {
        return Err("not a tensor file".into());
    }
    let data_bytes = u32_at(4) as usize;
    if TENSOR_HEADER_BYTES + data_bytes != file_size {
        return Err(format!(
            "its header announces {data_bytes} bytes of data, the file holds {}",
            file_size.saturating_sub(TENSOR_HEADER_BYTES)
        ));
    }
    let rank = u32_at(8) as usize;
    if rank > 8 {
        return Err(format!("a tensor of rank {rank}"));
    }
    let elements = (0..rank).try_fold(1u64, |n, axis| n.checked_mul(u64::from(u32_at(12 + 4 * axis))));
    if elements.is_none_or(|n| n > MAX_TENSOR_ELEMENTS as u64) {
        return Err(format!("a tensor of more than {MAX_TENSOR_ELEMENTS} elements"));
    }
    let bits = u64::from(u32_at(44));
    if elements.and_then(|n| n.checked_mul(bits)).is_none_or(|total| total.div_ceil(8) != data_bytes as u64) {
        return Err("its shape and its data size disagree".into());
    }
    Ok(())
}

/// The text before it is parsed, outside string literals and comments: its bracket nesting
/// (tract's parser recurses once per level, and a deep enough text would overflow the stack)
/// and how many numbers it holds (the parser is slow on each).
fn check_text(text: &str) -> Result<()> {
    let (mut depth, mut deepest, mut numbers) = (0usize, 0usize, 0usize);
    let mut previous = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                let quote = c;
                while let Some(s) = chars.next() {
                    if s == '\\' {
                        chars.next();
                    } else if s == quote {
                        break;
                    }
                }
            }
            '#' => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            // A number starts with a digit not inside an identifier.
            '0'..='9' if !(previous.is_alphanumeric() || previous == '_' || previous == '.') => {
                numbers += 1;
                while chars.peek().is_some_and(|d| d.is_ascii_alphanumeric() || matches!(d, '.' | '-' | '+'))
                {
                    chars.next();
                }
            }
            _ => {}
        }
        previous = c;
        if deepest > MAX_NESTING {
            return Err(refuse(format!("graph.nnef nests brackets more than {MAX_NESTING} deep")));
        }
        if numbers > MAX_LITERAL_NUMBERS {
            return Err(refuse(format!("graph.nnef holds more than {MAX_LITERAL_NUMBERS} numbers")));
        }
    }
    Ok(())
}

fn check_document(document: &Document, registries: &[Registry]) -> Result<()> {
    let bodies = || {
        document.fragments.iter().filter_map(|f| f.body.as_ref()).flatten().chain(&document.graph_def.body)
    };
    let assignments = bodies().count();
    if assignments > MAX_NODES {
        return Err(refuse(format!("a graph of {assignments} assignments (limit {MAX_NODES})")));
    }
    check_no_recursion(document)?;
    let declarations = Declarations { document, registries };
    let symbols: HashSet<&str> = (document.extension.iter())
        .filter(|(id, _)| id.0 == "tract_symbol")
        .map(|(_, name)| name.trim())
        .collect();
    let mut shapes = Shapes { known: HashMap::new(), constants: HashSet::new(), symbols };
    for assignment in &document.graph_def.body {
        shapes.assign(assignment, &declarations)?;
    }
    Ok(())
}

/// No fragment of the document calls itself, directly or through others (tract expands
/// fragment calls recursively, and a cycle overflows its stack).
fn check_no_recursion(document: &Document) -> Result<()> {
    let calls: HashMap<&str, Vec<&str>> = document
        .fragments
        .iter()
        .map(|f| {
            let mut called = Vec::new();
            for assignment in f.body.iter().flatten() {
                invocations(&assignment.right, &mut |id| called.push(id));
            }
            (f.decl.id.0.as_str(), called)
        })
        .collect();
    fn reaches<'a>(
        from: &'a str,
        target: &str,
        calls: &HashMap<&'a str, Vec<&'a str>>,
        seen: &mut HashSet<&'a str>,
    ) -> bool {
        calls
            .get(from)
            .into_iter()
            .flatten()
            .any(|&next| next == target || (seen.insert(next) && reaches(next, target, calls, seen)))
    }
    match calls.keys().find(|&&id| reaches(id, id, &calls, &mut HashSet::new())) {
        Some(id) => Err(refuse(format!("graph.nnef: fragment `{id}` calls itself"))),
        None => Ok(()),
    }
}

/// Calls `found` with the id of every invocation in `value`.
fn invocations<'a>(value: &'a RValue, found: &mut dyn FnMut(&'a str)) {
    match value {
        RValue::Invocation(invocation) => {
            found(&invocation.id.0);
            for argument in &invocation.arguments {
                invocations(&argument.rvalue, found);
            }
        }
        RValue::Array(items) | RValue::Tuple(items) => items.iter().for_each(|v| invocations(v, found)),
        RValue::Binary(a, _, b) => {
            invocations(a, found);
            invocations(b, found);
        }
        RValue::Unary(_, a) => invocations(a, found),
        RValue::Subscript(a, _) => invocations(a, found),
        RValue::IfThenElse(branches) => {
            for v in [&branches.cond, &branches.then, &branches.otherwise] {
                invocations(v, found);
            }
        }
        RValue::Comprehension(c) => invocations(&c.yields, found),
        RValue::Identifier(_) | RValue::Literal(_) => {}
    }
}

/// Where operators are declared: the document's own fragments, then the reader's registries.
struct Declarations<'a> {
    document: &'a Document,
    registries: &'a [Registry],
}

impl<'a> Declarations<'a> {
    fn of(&self, id: &str) -> Option<&'a FragmentDecl> {
        let own = self.document.fragments.iter().find(|f| f.decl.id.0 == id).map(|f| &f.decl);
        own.or_else(|| {
            self.registries.iter().find_map(|r| {
                let key = tract_nnef::ast::Identifier(id.to_owned());
                r.primitives.get(&key).map(|p| &p.decl).or_else(|| r.fragments.get(&key).map(|f| &f.decl))
            })
        })
    }
}

/// A value's shape as far as the text tells it: its rank, and each dimension if it is a
/// number (a symbol such as `N`, or one an operator makes, is `None`).
type Shape = Vec<Option<i64>>;

/// What the screen knows of the graph's values as it walks the assignments: shapes, and which
/// names hold constants (literals).
struct Shapes<'a> {
    known: HashMap<&'a str, Shape>,
    constants: HashSet<&'a str>,
    symbols: HashSet<&'a str>,
}

/// Elementwise operators (the result is the inputs' broadcast shape), with how many tensor
/// arguments each takes at least: tract reads them by position without checking (an `add` of
/// one argument panicked it).
const ELEMENTWISE: &[(&str, usize)] = &[
    ("add", 2),
    ("sub", 2),
    ("mul", 2),
    ("div", 2),
    ("pow", 2),
    ("min", 2),
    ("max", 2),
    ("lt", 2),
    ("gt", 2),
    ("le", 2),
    ("ge", 2),
    ("eq", 2),
    ("ne", 2),
    ("and", 2),
    ("or", 2),
    ("select", 3),
    ("relu", 1),
    ("sigmoid", 1),
    ("tanh", 1),
    ("exp", 1),
    ("log", 1),
    ("abs", 1),
    ("neg", 1),
    ("sqrt", 1),
    ("rsqrt", 1),
    ("sin", 1),
    ("cos", 1),
    ("copy", 1),
    ("not", 1),
    ("round", 1),
    ("floor", 1),
    ("ceil", 1),
    ("sign", 1),
    ("elu", 1),
    ("softplus", 1),
    ("leaky_relu", 1),
    ("clamp", 3),
    ("rcp", 1),
    ("sqr", 1),
    ("tract_core_cast", 1),
];
/// Reductions over `axes`, which keep the rank.
const REDUCTIONS: &[&str] = &[
    "sum_reduce",
    "mean_reduce",
    "max_reduce",
    "min_reduce",
    "argmax_reduce",
    "argmin_reduce",
    "any_reduce",
    "all_reduce",
];

impl<'a> Shapes<'a> {
    fn assign(&mut self, assignment: &'a Assignment, declarations: &Declarations<'a>) -> Result<()> {
        let LValue::Identifier(name) = &assignment.left else { return Ok(()) };
        let name = name.0.as_str();
        if self.is_constant(&assignment.right) {
            self.constants.insert(name);
        }
        if let Some(shape) = self.shape(&assignment.right, declarations)? {
            self.known.insert(name, shape);
        }
        Ok(())
    }

    /// Whether `value` is a constant: literals, symbols, names holding constants, and
    /// arrays, tuples and arithmetic of those.
    fn is_constant(&self, value: &RValue) -> bool {
        match value {
            RValue::Literal(_) => true,
            RValue::Identifier(id) => {
                self.constants.contains(id.0.as_str()) || self.symbols.contains(id.0.as_str())
            }
            RValue::Array(items) | RValue::Tuple(items) => items.iter().all(|v| self.is_constant(v)),
            RValue::Binary(a, _, b) => self.is_constant(a) && self.is_constant(b),
            RValue::Unary(_, a) => self.is_constant(a),
            _ => false,
        }
    }

    /// The shape of `value` if the text tells it; an error if an operator's arguments cannot fit.
    fn shape(&self, value: &RValue, declarations: &Declarations<'a>) -> Result<Option<Shape>> {
        Ok(match value {
            RValue::Identifier(id) => self.known.get(id.0.as_str()).cloned(),
            RValue::Literal(literal) => Some(literal_shape(literal)),
            RValue::Array(items) if items.iter().all(|v| self.is_constant(v)) => match items.first() {
                Some(first) => self
                    .shape(first, declarations)?
                    .map(|inner| [vec![Some(items.len() as i64)], inner].concat()),
                None => Some(vec![Some(0)]),
            },
            RValue::Invocation(invocation) => self.invocation_shape(invocation, declarations)?,
            _ => None,
        })
    }

    fn invocation_shape(
        &self,
        invocation: &Invocation,
        declarations: &Declarations<'a>,
    ) -> Result<Option<Shape>> {
        let op = invocation.id.0.as_str();
        let wrong = |what: &str| Err(refuse(format!("graph.nnef: `{op}` {what}")));
        if let Some(&(_, arguments)) = ELEMENTWISE.iter().find(|(name, _)| *name == op) {
            // Declared by the registries as element-wise or binary operators, not as fragments.
            if invocation.arguments.len() < arguments {
                return wrong(&format!("takes {arguments} arguments, not {}", invocation.arguments.len()));
            }
            let shapes: Vec<Option<Shape>> = invocation
                .arguments
                .iter()
                .map(|a| self.shape(&a.rvalue, declarations))
                .collect::<Result<_>>()?;
            let shapes: Option<Vec<Shape>> = shapes.into_iter().collect();
            return match shapes.map(|shapes| broadcast(&shapes)) {
                Some(Err(())) => wrong("has inputs whose shapes do not broadcast"),
                Some(Ok(shape)) => Ok(Some(shape)),
                None => Ok(None),
            };
        }
        let Some(declaration) = declarations.of(op) else { return Ok(None) };
        let arguments = bind(invocation, declaration)?;
        for (parameter, argument) in declaration.parameters.iter().zip(&arguments) {
            if let Some(argument) = argument {
                if !holds_tensors(&parameter.spec) && !self.is_constant(argument) {
                    return Err(refuse(format!(
                        "graph.nnef: `{op}` needs a constant for `{}`",
                        parameter.id.0
                    )));
                }
            }
        }
        let named = |name: &str| {
            declaration.parameters.iter().position(|p| p.id.0 == name).and_then(|i| arguments[i])
        };
        let input =
            |name: &str| named(name).map(|v| self.shape(v, declarations)).transpose().map(Option::flatten);
        let ints = |name: &str| named(name).and_then(integers);
        let in_range = |axes: &[i64], rank: usize| axes.iter().all(|&a| a >= 0 && (a as usize) < rank);
        Ok(match op {
            "tract_core_external" | "external" | "variable" => named("shape").and_then(dims),
            _ if REDUCTIONS.contains(&op) => {
                let (Some(mut shape), Some(axes)) = (input("input")?, ints("axes")) else { return Ok(None) };
                if !in_range(&axes, shape.len()) {
                    return wrong(&format!("reduces axes {axes:?} of a tensor of rank {}", shape.len()));
                }
                axes.iter().for_each(|&a| shape[a as usize] = Some(1));
                Some(shape)
            }
            "squeeze" | "unsqueeze" => {
                let (Some(shape), Some(axes)) = (input("input")?, ints("axes")) else { return Ok(None) };
                let rank = shape.len();
                let bound = if op == "squeeze" { rank } else { rank + axes.len() };
                if !in_range(&axes, bound) || (op == "squeeze" && axes.len() > rank) {
                    return wrong(&format!("axes {axes:?} of a tensor of rank {rank}"));
                }
                if op == "squeeze" {
                    Some(
                        shape
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| !axes.contains(&(*i as i64)))
                            .map(|(_, d)| *d)
                            .collect(),
                    )
                } else {
                    let mut result = shape;
                    let mut sorted = axes;
                    sorted.sort_unstable();
                    sorted.iter().for_each(|&a| result.insert((a as usize).min(result.len()), Some(1)));
                    Some(result)
                }
            }
            "transpose" => {
                let (Some(shape), Some(axes)) = (input("input")?, ints("axes")) else { return Ok(None) };
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                if axes.len() > shape.len() || sorted.iter().enumerate().any(|(i, &a)| a != i as i64) {
                    return wrong(&format!(
                        "axes {axes:?} are not a permutation of a tensor of rank {}",
                        shape.len()
                    ));
                }
                let mut result = shape.clone();
                axes.iter().enumerate().for_each(|(i, &a)| result[i] = shape[a as usize]);
                Some(result)
            }
            "reshape" => {
                let (Some(shape), Some(to)) = (input("input")?, ints("shape")) else { return Ok(None) };
                let rank = shape.len() as i64;
                let start = ints("axis_start").and_then(|v| v.first().copied()).unwrap_or(0);
                let count = ints("axis_count").and_then(|v| v.first().copied()).unwrap_or(-1);
                let count = if count == -1 { rank - start } else { count };
                let fits = start >= 0 && count >= 0 && start + count <= rank;
                let zeros_fit = to.iter().enumerate().all(|(i, &d)| d != 0 || start + (i as i64) < rank);
                let unknowns = to.iter().filter(|&&d| d == -1).count();
                if !fits || !zeros_fit || unknowns > 1 || to.iter().any(|&d| d < -1) {
                    return wrong(&format!(
                        "reshapes a tensor of rank {rank} to {to:?} (start {start}, count {count})"
                    ));
                }
                let (start, count) = (start as usize, count as usize);
                let replaced = to.iter().enumerate().map(|(i, &d)| match d {
                    0 => shape[start + i],
                    -1 => None,
                    d => Some(d),
                });
                Some(
                    shape[..start]
                        .iter()
                        .copied()
                        .chain(replaced)
                        .chain(shape[start + count..].iter().copied())
                        .collect(),
                )
            }
            "slice" => {
                let Some(shape) = input("input")? else { return Ok(None) };
                if let [Some(axes), Some(begin), Some(end)] = ["axes", "begin", "end"].map(ints) {
                    let stride = ints("stride").unwrap_or_else(|| axes.clone());
                    if begin.len() != axes.len()
                        || end.len() != axes.len()
                        || stride.len() != axes.len()
                        || !in_range(&axes, shape.len())
                    {
                        return wrong(&format!(
                            "slices axes {axes:?} (begin {begin:?}, end {end:?}) of a tensor of rank {}",
                            shape.len()
                        ));
                    }
                    // An end before its begin (both counted from the start) makes a negative length.
                    if begin.iter().zip(&end).any(|(&b, &e)| b >= 0 && e > 0 && e < b) {
                        return wrong(&format!("slices from {begin:?} to {end:?}: an end before its begin"));
                    }
                    let mut result = shape;
                    axes.iter().for_each(|&a| result[a as usize] = None);
                    Some(result)
                } else {
                    Some(vec![None; shape.len()])
                }
            }
            "concat" => {
                let shapes = match named("values") {
                    Some(RValue::Array(items)) => {
                        items.iter().map(|v| self.shape(v, declarations)).collect::<Result<Vec<_>>>()?
                    }
                    _ => return Ok(None),
                };
                let rank = shapes.first().cloned().flatten().map(|s| s.len());
                if shapes.is_empty()
                    || shapes.iter().any(|s| s.as_ref().is_some_and(|s| Some(s.len()) != rank))
                {
                    return wrong("concatenates no tensors, or tensors of different ranks");
                }
                let (Some(rank), Some(axis)) = (rank, ints("axis").and_then(|v| v.first().copied())) else {
                    return Ok(None);
                };
                if !in_range(&[axis], rank) {
                    return wrong(&format!("concatenates on axis {axis} tensors of rank {rank}"));
                }
                Some(vec![None; rank])
            }
            "pad" | "tile" => {
                let Some(shape) = input("input")? else { return Ok(None) };
                let list = named(if op == "pad" { "padding" } else { "repeats" });
                let entries = list.and_then(array_length);
                let pairs = op != "pad"
                    || matches!(list, Some(RValue::Array(items)) if items.iter().all(|p| array_length(p) == Some(2)));
                if entries.is_some_and(|entries| entries != shape.len()) || !pairs {
                    return wrong(&format!("needs one entry per axis of a tensor of rank {}", shape.len()));
                }
                if op == "tile" && ints("repeats").is_some_and(|r| r.iter().any(|&n| n < 0)) {
                    return wrong("repeats an axis a negative number of times");
                }
                Some(vec![None; shape.len()])
            }
            "matmul" => {
                let (Some(a), Some(b)) = (input("A")?, input("B")?) else { return Ok(None) };
                if a.len() < 2 || b.len() < 2 {
                    return Ok(None);
                }
                let flag = |name: &str| matches!(named(name), Some(RValue::Literal(Literal::Logical(true))));
                let (ra, rb) = (a.len(), b.len());
                let (m, k) = if flag("transposeA") { (a[ra - 1], a[ra - 2]) } else { (a[ra - 2], a[ra - 1]) };
                let (k2, n) =
                    if flag("transposeB") { (b[rb - 1], b[rb - 2]) } else { (b[rb - 2], b[rb - 1]) };
                if let (Some(k), Some(k2)) = (k, k2) {
                    if k != k2 {
                        return wrong(&format!(
                            "multiplies a tensor of shape {a:?} by one of shape {b:?}: {k} against {k2}"
                        ));
                    }
                }
                let Ok(batch) = broadcast(&[a[..ra - 2].to_vec(), b[..rb - 2].to_vec()]) else {
                    return wrong("has batch dimensions that do not broadcast");
                };
                Some([batch, vec![m, n]].concat())
            }
            _ => None,
        })
    }
}

/// The shapes' broadcast (numpy rules, aligned on the last axis), or an error if two known
/// dimensions of one axis differ and neither is 1.
fn broadcast(shapes: &[Shape]) -> std::result::Result<Shape, ()> {
    let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
    (0..rank)
        .map(|from_end| {
            let dims = shapes.iter().filter_map(|s| s.len().checked_sub(from_end + 1).map(|at| s[at]));
            let mut result = Some(1);
            for dim in dims {
                result = match (result, dim) {
                    (Some(1), d) | (d, Some(1)) => d,
                    (Some(a), Some(b)) if a != b => return Err(()),
                    (Some(a), Some(_)) => Some(a),
                    _ => None,
                };
            }
            Ok(result)
        })
        .collect::<std::result::Result<Vec<_>, ()>>()
        .map(|mut reversed| {
            reversed.reverse();
            reversed
        })
}

/// The declaration's parameters, each with its argument if the invocation gives one:
/// positional arguments in order, then named ones.
fn bind<'v>(invocation: &'v Invocation, declaration: &FragmentDecl) -> Result<Vec<Option<&'v RValue>>> {
    let mut bound: Vec<Option<&RValue>> = vec![None; declaration.parameters.len()];
    let mut next = 0;
    for Argument { id, rvalue } in &invocation.arguments {
        let at = match id {
            Some(id) => declaration.parameters.iter().position(|p| p.id == *id),
            None => {
                next += 1;
                (next <= bound.len()).then_some(next - 1)
            }
        };
        match at {
            Some(at) => bound[at] = Some(rvalue),
            None => {
                return Err(refuse(format!(
                    "graph.nnef: `{}` has no parameter for an argument",
                    invocation.id.0
                )));
            }
        }
    }
    Ok(bound)
}

fn holds_tensors(spec: &TypeSpec) -> bool {
    match spec {
        TypeSpec::Tensor(_) => true,
        TypeSpec::Single(_) => false,
        TypeSpec::Array(inner) => holds_tensors(inner),
        TypeSpec::Tuple(items) => items.iter().any(holds_tensors),
    }
}

fn literal_shape(literal: &Literal) -> Shape {
    match literal {
        Literal::Array(items) => {
            [vec![Some(items.len() as i64)], items.first().map_or_else(Vec::new, literal_shape)].concat()
        }
        _ => Vec::new(),
    }
}

/// The dimensions of a shape argument: numbers, or `None` for a symbol or an expression.
fn dims(value: &RValue) -> Option<Shape> {
    match value {
        RValue::Array(items) => {
            Some(items.iter().map(|d| integers(d).filter(|v| v.len() == 1).map(|v| v[0])).collect())
        }
        RValue::Literal(Literal::Array(items)) => Some(
            items.iter().map(|l| if let Literal::Numeric(n) = l { n.parse().ok() } else { None }).collect(),
        ),
        _ => None,
    }
}

fn array_length(value: &RValue) -> Option<usize> {
    match value {
        RValue::Array(items) => Some(items.len()),
        RValue::Literal(Literal::Array(items)) => Some(items.len()),
        _ => None,
    }
}

/// The integers a constant argument holds (a number, or an array of numbers), if it is one.
fn integers(value: &RValue) -> Option<Vec<i64>> {
    fn one(value: &RValue) -> Option<i64> {
        match value {
            RValue::Literal(Literal::Numeric(n)) => n.parse().ok(),
            RValue::Unary(op, a) if op == "-" => one(a).map(|n| -n),
            _ => None,
        }
    }
    match value {
        RValue::Array(items) => items.iter().map(one).collect(),
        RValue::Literal(Literal::Array(items)) => {
            items.iter().map(|l| if let Literal::Numeric(n) = l { n.parse().ok() } else { None }).collect()
        }
        other => one(other).map(|n| vec![n]),
    }
}
