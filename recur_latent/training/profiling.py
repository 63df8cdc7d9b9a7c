"""Where a compiled step spends its time: a profiler trace of a few calls, summed per kernel.

`trace_calls` records a trace with `jax.profiler` (TensorBoard's profile
plugin reads the directory; `perfetto_trace.json.gz` opens in ui.perfetto.dev).
`kernel_table` sums the trace's complete events per name on the device
timelines: the GPU's streams where there is a GPU, otherwise the threads on
which XLA's CPU runtime executes. A GPU kernel counts its whole duration;
a CPU runtime event counts its self time (its duration less that of the
events nested in it on the same thread), so a while loop or an executor's
wrapper event is not counted twice. It also reports how busy the device was
against the traced span, and the longest idle gaps. It is the breakdown
that says which operations to make faster (results/performance.md).

Given the compiled step's optimized HLO (`compiled.as_text()`), each row also
names its sources: the JAX operations (the HLO metadata's op_name) most often
found in that kernel's fused computation, so that a row such as
`input_transpose_fusion_16` reads as the einsum or pad that made it.
"""
import collections
import glob
import gzip
import json
import os
import re

import jax

_CPU_EXECUTION_THREADS = ("tf_XLAPjRtCpuClient", "tf_XLAEigen")


def trace_calls(fn, args_list, calls: int, profile_dir: str) -> str:
  """Runs `fn(*args)` `calls` times under the profiler; returns the Perfetto trace's path."""
  jax.block_until_ready(fn(*args_list[0]))  # Compiled and warm before the trace starts.
  with jax.profiler.trace(profile_dir, create_perfetto_trace=True):
    for i in range(calls):
      jax.block_until_ready(fn(*args_list[i % len(args_list)]))
  traces = sorted(glob.glob(os.path.join(profile_dir, "plugins", "profile", "*",
                                         "perfetto_trace.json.gz")), key=os.path.getmtime)
  if not traces:
    raise FileNotFoundError(f"the profiler wrote no perfetto_trace.json.gz under {profile_dir}")
  return traces[-1]


def _device_events(events):
  """The complete ('X') events of the device timelines, and which timelines those were."""
  processes, threads = {}, {}
  for e in events:
    if e.get("ph") == "M" and e.get("name") == "process_name":
      processes[e["pid"]] = e["args"]["name"]
    elif e.get("ph") == "M" and e.get("name") == "thread_name":
      threads[(e["pid"], e["tid"])] = e["args"]["name"]
  complete = [e for e in events if e.get("ph") == "X"]
  on_device = [e for e in complete if processes.get(e["pid"], "").startswith("/device:")]
  if on_device:
    return on_device, "device"
  on_cpu_runtime = [e for e in complete
                    if threads.get((e["pid"], e["tid"]), "").startswith(_CPU_EXECUTION_THREADS)
                    and "wait for completion" not in e["name"]]  # Waiting, not work.
  return on_cpu_runtime, "cpu runtime threads"


def _self_times(events):
  """[(event, self time in us)]: each duration less its directly nested events'."""
  by_timeline = collections.defaultdict(list)
  for e in events:
    by_timeline[(e["pid"], e["tid"])].append(e)
  out = []
  for timeline in by_timeline.values():
    timeline.sort(key=lambda e: (float(e["ts"]), -float(e.get("dur", 0.0))))
    enclosing = []  # [end, event, self time] of the open events, outermost first.
    for e in timeline:
      start, dur = float(e["ts"]), float(e.get("dur", 0.0))
      while enclosing and start >= enclosing[-1][0]:
        _, done, self_us = enclosing.pop()
        out.append((done, self_us))
      if enclosing:
        enclosing[-1][2] -= dur
      enclosing.append([start + dur, e, dur])
    out.extend((e, self_us) for _, e, self_us in enclosing)
  return out


_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) \(.*\) -> .* \{$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = ")
_CALLS = re.compile(r"calls=%([\w.\-]+)")
_OP_NAME = re.compile(r'op_name="([^"]*)"')


def instruction_bodies(hlo_text: str) -> dict:
  """{instruction name: (its own HLO line, the lines of the computation it calls or None)}."""
  computations, current = {}, None
  for line in hlo_text.split("\n"):
    header = _COMPUTATION.match(line)
    if header:
      current = computations.setdefault(header.group(1), [])
    elif line.startswith("}"):
      current = None
    elif current is not None:
      current.append(line)
  bodies = {}
  for body in computations.values():
    for line in body:
      inst = _INSTRUCTION.match(line)
      if inst:
        called = _CALLS.search(line)
        bodies[inst.group(1)] = (line, computations.get(called.group(1)) if called else None)
  return bodies


def fusion_sources(hlo_text: str, top: int = 3) -> dict:
  """{instruction name: its `top` most frequent op_names}, over the computation it calls if any.

  The op_names lose their outermost `jit(...)/` (the step's own name).
  """
  sources = {}
  for name, (line, called) in instruction_bodies(hlo_text).items():
    lines = called if called is not None else [line]
    names = collections.Counter(re.sub(r"^jit\([^)]*\)/", "", m.group(1))
                                for l in lines for m in [_OP_NAME.search(l)] if m)
    sources[name] = [n for n, _ in names.most_common(top)]
  return sources


def sources_of(kernel_name, sources):
  """A kernel's sources: GPU kernels drop the dot of the instruction's number (`x.16` runs as `x_16`)."""
  for key in (kernel_name, re.sub(r"_(\d+)$", r".\1", kernel_name)):
    if key in sources:
      return sources[key]
  return []


def kernel_table(trace_path: str, *, calls: int = 1, top: int = 25, hlo_text: str | None = None) -> dict:
  """{'timeline', 'total_ms_per_call', 'rows': [{name, ms_per_call, count_per_call, share}]}.

  Times are summed over the trace and divided by `calls` (the traced calls),
  so a row reads as milliseconds of that kernel in one step. With the
  compiled program's `hlo_text`, each row also has 'sources' (fusion_sources).
  """
  with gzip.open(trace_path, "rt") as f:
    trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  device_events, timeline = _device_events(events)
  total_us, count = collections.Counter(), collections.Counter()
  # GPU kernels do not nest: the nodes of a CUDA graph overlap on one stream in
  # the trace, and subtracting overlaps would undercount them (35 of 58 busy
  # ms in the H200 step). The CPU runtime's events do nest (wrappers).
  timed = ([(e, float(e.get("dur", 0.0))) for e in device_events] if timeline == "device"
           else _self_times(device_events))
  for e, us in timed:
    total_us[e["name"]] += max(us, 0.0)
    count[e["name"]] += 1
  all_us = sum(total_us.values())
  rows = [{"name": name, "ms_per_call": us / 1e3 / calls, "count_per_call": count[name] / calls,
           "share": us / all_us if all_us else 0.0}
          for name, us in total_us.most_common(top)]
  if hlo_text:
    sources = fusion_sources(hlo_text)
    for row in rows:
      row["sources"] = sources_of(row["name"], sources)
  return {"timeline": timeline, "total_ms_per_call": all_us / 1e3 / calls, "rows": rows,
          **_occupancy(device_events, calls)}


def _occupancy(events, calls, top_gaps=5):
  """How busy the device was: the union of event intervals against the traced span.

  The span runs from the first event's start to the last one's end, so it
  includes the host's time between calls; `busy` far below `span` means the
  device waited (on launches, host work or transfers), and the longest gaps
  say between which kernels.
  """
  if not events:
    return {"busy_ms_per_call": 0.0, "span_ms_per_call": 0.0, "gaps": []}
  intervals = sorted((float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0.0)), e["name"])
                     for e in events)
  busy_us, gaps = 0.0, []
  run_start, run_end, run_last = intervals[0]
  for start, end, name in intervals[1:]:
    if start > run_end:
      busy_us += run_end - run_start
      gaps.append((start - run_end, run_last, name))
      run_start = start
    if end >= run_end:
      run_end, run_last = end, name
  busy_us += run_end - run_start
  span_us = max(end for _, end, _ in intervals) - intervals[0][0]
  gaps.sort(reverse=True)
  return {"busy_ms_per_call": busy_us / 1e3 / calls, "span_ms_per_call": span_us / 1e3 / calls,
          "gaps": [{"ms": g / 1e3, "after": a, "before": b} for g, a, b in gaps[:top_gaps]]}


def format_table(table: dict) -> str:
  """Markdown of `kernel_table`'s result."""
  lines = [f"Kernels on the {table['timeline']}: {table['total_ms_per_call']:.2f} ms per step in all; "
           f"busy {table.get('busy_ms_per_call', 0.0):.2f} of a {table.get('span_ms_per_call', 0.0):.2f} "
           "ms span per step."]
  for gap in table.get("gaps", []):
    lines.append(f"- idle {gap['ms']:.3f} ms after `{gap['after'][:60]}`, before `{gap['before'][:60]}`")
  with_sources = any("sources" in row for row in table["rows"])
  lines += ["", "| kernel | ms per step | calls per step | share |" + (" sources |" if with_sources else ""),
            "|---|---|---|---|" + ("---|" if with_sources else "")]
  for row in table["rows"]:
    name = row["name"] if len(row["name"]) <= 80 else row["name"][:77] + "..."
    line = (f"| `{name}` | {row['ms_per_call']:.3f} | {row['count_per_call']:.1f} | "
            f"{row['share']:.1%} |")
    if with_sources:
      line += " " + "; ".join(f"`{src[-70:]}`" for src in row.get("sources", [])) + " |"
    lines.append(line)
  return "\n".join(lines)
