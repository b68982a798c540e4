//! The compiler benchmark: N generated contracts (each with references, enums, messages, lists,
//! maps, constraints and a custom operation) compiled to OpenAPI + proto, in process.
//!
//! The headline figure is what the issue asks for: `compile` with the OpenAPI and proto
//! outputs. The Rust emitter (and its `rustfmt` pass) is measured on its own afterwards.
//!
//! The baseline, measured in the same run, is parsing the same YAML into the parser's event
//! stream and nothing else: the ratio shows how much the compiler adds on top of reading its
//! input. Peak memory is the process's high-water mark (VmHWM) after the timed runs.

use std::time::{Duration, Instant};

use cmmv_compiler::{Compilation, Input, Options, Targets};

// Nine runs: the median of five swung with every hiccup of a shared two-core machine.
const RUNS: usize = 9;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut contracts = 1000;
    let mut peak_only = false;
    // Compiles this many times and nothing else: for a profiler.
    let mut profile_runs = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            // The child process of the memory measurement.
            "--peak-only" => peak_only = true,
            "--profile-runs" => {
                profile_runs = Some(
                    iter.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .ok_or("--profile-runs takes a number")?,
                );
            }
            "--contracts" => {
                contracts = iter
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--contracts takes a number")?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let texts: Vec<(String, String)> = (0..contracts).map(contract).collect();
    if peak_only {
        return measure_peak(&texts);
    }
    if let Some(runs) = profile_runs {
        for _ in 0..runs {
            drop(std::hint::black_box(compile_once(&texts)));
        }
        return Ok(());
    }
    let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
    println!(
        "bench: {contracts} contracts, {} KiB of YAML, {RUNS} runs each",
        bytes / 1024
    );

    let (baseline, _) = time_runs(|| {
        let mut events = 0usize;
        for (_, text) in &texts {
            events += cmmv_compiler::count_events(text);
        }
        std::hint::black_box(events);
    });

    let mut files = 0;
    let (compile, freeing) = time_runs(|| {
        let compilation = compile_once(&texts);
        files = compilation.files.len();
        compilation
    });
    let peak = peak_of_one_compile(contracts)?;

    // Where the time goes, stage by stage (one run each).
    let mut input = Input::default();
    for (name, text) in &texts {
        input.add_contract(name.as_str(), text.as_str());
    }
    input.dir = "contracts".into();
    let start = Instant::now();
    let (project, _) = cmmv_compiler::lower_and_validate(&input);
    let lowered = start.elapsed();
    let start = Instant::now();
    let analysis = cmmv_compiler::analyze(&input);
    let analyzed = start.elapsed().saturating_sub(lowered);
    let start = Instant::now();
    let api = cmmv_compiler::api::Api::resolve(&project);
    let resolved = start.elapsed();
    let start = Instant::now();
    let openapi = cmmv_compiler::emit::openapi::emit(
        &api,
        &cmmv_compiler::emit::openapi::OpenApiOptions {
            origin: "contracts/".to_owned(),
            protobuf: true,
        },
    );
    let openapi_time = start.elapsed();
    let start = Instant::now();
    let protos = cmmv_compiler::emit::proto::emit(
        &api,
        &analysis.lock,
        &cmmv_compiler::Templates::builtin(),
        &input.sources,
    );
    let proto_time = start.elapsed();
    let start = Instant::now();
    let rust = cmmv_compiler::emit::rust::emit(
        &api,
        &analysis.migrations,
        &input.sources,
        "contracts/",
        true,
    );
    let rust_emit_time = start.elapsed();
    let start = Instant::now();
    let rust = cmmv_compiler::output::format_rust_files(&rust);
    let rust_format_time = start.elapsed();
    println!(
        "stages: lower+validate {:.1} ms, numbering {:.1} ms, resolve {:.1} ms, OpenAPI {:.1} ms ({} files, {} KiB), proto {:.1} ms ({} files), Rust emit {:.1} ms + format {:.1} ms ({} files)",
        ms(lowered),
        ms(analyzed),
        ms(resolved),
        ms(openapi_time),
        openapi.len(),
        openapi.iter().map(|f| f.contents.len()).sum::<usize>() / 1024,
        ms(proto_time),
        protos.map_or(0, |p| p.len()),
        ms(rust_emit_time),
        ms(rust_format_time),
        rust.len()
    );

    let median = |d: &[Duration]| d[d.len() / 2];
    println!(
        "parse only (baseline): median {:>8.1} ms  min {:>8.1} ms",
        ms(median(&baseline)),
        ms(baseline[0])
    );
    println!(
        "compile to OpenAPI + proto: median {:>8.1} ms  min {:>8.1} ms  ({files} files)",
        ms(median(&compile)),
        ms(compile[0])
    );
    println!(
        "freeing the compilation afterwards: median {:>8.1} ms (not in the figure above: `cmmv gen` frees it beside its exit)",
        ms(median(&freeing))
    );
    println!(
        "ratio compile / parse-only: {:.1}x",
        ms(median(&compile)) / ms(median(&baseline)).max(0.001)
    );
    println!("peak memory of one compile in a fresh process (VmHWM): {peak}");
    let target_ms = 500.0;
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "target: under {target_ms} ms and 200 MiB -> time {}, memory {}",
        verdict(ms(median(&compile)) < target_ms),
        verdict(peak.compile_kib < 200 * 1024)
    );
    Ok(())
}

/// The OpenAPI and proto outputs of the benchmark contracts.
fn compile_once(texts: &[(String, String)]) -> Compilation {
    let mut input = Input::default();
    for (name, text) in texts {
        input.add_contract(name.as_str(), text.as_str());
    }
    input.dir = "contracts".into();
    let options = Options {
        targets: Targets {
            openapi: true,
            proto: true,
            rust: false,
        },
        ..Options::default()
    };
    match cmmv_compiler::compile(&input, &options) {
        Ok(compilation) => compilation,
        Err(error) => panic!("bench contracts must compile:\n{error}"),
    }
}

/// High-water marks of the child process, in KiB.
struct Peak {
    before_kib: u64,
    compile_kib: u64,
}

impl std::fmt::Display for Peak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |kib: u64| kib as f64 / 1024.0;
        write!(
            f,
            "{:.1} MiB ({:.1} MiB before compiling: the process and the contracts' text)",
            mib(self.compile_kib),
            mib(self.before_kib)
        )
    }
}

/// Runs this benchmark again as a child that compiles once, and reads its high-water marks.
fn peak_of_one_compile(contracts: usize) -> Result<Peak, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let output = std::process::Command::new(exe)
        .args([
            "bench",
            "--peak-only",
            "--contracts",
            &contracts.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run the memory measurement: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .ok_or_else(|| format!("the memory measurement printed no `{name}`: {text}"))
    };
    Ok(Peak {
        before_kib: field("before-kib:")?,
        compile_kib: field("compile-kib:")?,
    })
}

/// The child's side of `peak_of_one_compile`.
fn measure_peak(texts: &[(String, String)]) -> Result<(), String> {
    let before = peak_memory_kib().ok_or("no /proc/self/status to read VmHWM from")?;
    std::hint::black_box(compile_once(texts));
    let after = peak_memory_kib().ok_or("no /proc/self/status to read VmHWM from")?;
    println!("before-kib: {before}");
    println!("compile-kib: {after}");
    Ok(())
}

/// The sorted times of `RUNS` calls of `f`, and the sorted times of dropping what each
/// returned. The clock stops before the drop, as with criterion's `iter_with_large_drop`:
/// freeing the result is not part of producing it.
fn time_runs<T>(mut f: impl FnMut() -> T) -> (Vec<Duration>, Vec<Duration>) {
    let (mut times, mut drops): (Vec<Duration>, Vec<Duration>) = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let output = f();
            let elapsed = start.elapsed();
            let start = Instant::now();
            drop(output);
            (elapsed, start.elapsed())
        })
        .unzip();
    times.sort();
    drops.sort();
    (times, drops)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The i-th benchmark contract. Each refers to the one before it, so references resolve
/// across the whole set.
fn contract(i: usize) -> (String, String) {
    let name = format!("Resource{i}");
    let reference = if i == 0 {
        String::new()
    } else {
        format!(
            "  parent_id: {{ type: uuid, ref: Resource{}, optional: true, filterable: true }}\n",
            i - 1
        )
    };
    let text = format!(
        r#"contract: {name}
description: Benchmark resource number {i}.
versions: [1, 2]
auth: {{ roles: [user, admin] }}
rate_limit: {{ limit: 100, per: 1m, burst: 20, key: user }}
storage: {{ timestamps: true }}
fields:
  id: {{ type: uuid, primary: true }}
{reference}  title: {{ type: string, min_length: 1, max_length: 200, sortable: true, filterable: true }}
  body: {{ type: string, max_length: 5000, nullable: true }}
  done: {{ type: bool, default: false, filterable: true }}
  state: {{ type: enum, values: [draft, active, archived], default: draft }}
  score: {{ type: double, minimum: 0, maximum: 100, optional: true }}
  count: {{ type: int64, minimum: 0, default: 0 }}
  code: {{ type: string, pattern: '^[A-Z]{{3}}-[0-9]+$', optional: true }}
  email: {{ type: string, format: email, optional: true }}
  tags: {{ type: list<string>, max_items: 10, items: {{ max_length: 30 }}, default: [] }}
  labels: {{ type: map<string>, optional: true }}
  steps: {{ type: list<Step{i}>, optional: true }}
  due_at: {{ type: datetime, optional: true, sortable: true }}
messages:
  Step{i}:
    fields:
      text: {{ type: string, min_length: 1, max_length: 200 }}
      done: {{ type: bool, default: false }}
  Archive{i}:
    fields:
      reason: {{ type: string, optional: true, max_length: 500 }}
operations:
  archive:
    method: POST
    path: /{{id}}/archive
    request: Archive{i}
    versions: [2]
"#
    );
    (format!("contracts/resource{i}.yaml"), text)
}
