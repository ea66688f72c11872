"""Large deployment DAGs in the corpus style, for benchmarks: per layer, attention per TP rank,
the all-reduce, gate, all-to-all dispatch, E experts spread over EP ranks, combine, residuals."""

from __future__ import annotations

HIDDEN = 7168


def synthetic_dot(layers: int = 61, experts: int = 256, tp: int = 8, ep: int = 32) -> str:
    """A DOT text of roughly (7*tp + experts + 8) nodes per layer."""
    out = [f'digraph synthetic {{\n  label="EP{ep}-TP{tp}-PP1-DP1"\n  node [shape=box]']
    full = f"[batch_size=128, seq_len=4096, hidden_size={HIDDEN}]"
    heads = f"[batch_size=128, seq_len=4096, heads={HIDDEN // 128 // tp}, d_k=128]"
    out.append(f'  input [label="Input\\nInput: {full}\\nOutput: {full}" shape=ellipse]')
    previous = "input"
    for layer in range(layers):
        p = f"l{layer}"
        out.append(f'  {p}_norm [label="RMSNorm L{layer}\\nInput: {full}\\nOutput: {full}\\nGPU: TP0-TP{tp - 1}"]')
        out.append(f"  {previous} -> {p}_norm")
        out.append(f'  {p}_ar [label="All-Reduce L{layer}\\nSize: {full}\\nTP Group: TP0-TP{tp - 1}" shape=ellipse]')
        for rank in range(tp):
            r = f"{p}_tp{rank}"
            for op, label, shape_in, shape_out in (
                ("q", "Q Projection", full, heads), ("k", "K Projection", full, heads), ("v", "V Projection", full, heads),
            ):
                out.append(f'  {r}_{op} [label="{label}\\nL{layer} TP{rank}\\nInput: {shape_in}\\nOutput: {shape_out}\\nGPU: {rank}"]')
                out.append(f"  {p}_norm -> {r}_{op}")
            out.append(f'  {r}_score [label="Attention Score\\nL{layer} TP{rank}\\nInput: {heads}\\nOutput: {heads}\\nGPU: {rank}"]')
            out.append(f'  {r}_softmax [label="Softmax\\nL{layer} TP{rank}\\nInput: {heads}\\nOutput: {heads}\\nGPU: {rank}"]')
            out.append(f'  {r}_ctx [label="Attention Output (scores x V)\\nL{layer} TP{rank}\\nInput: {heads}, {heads}\\nOutput: {heads}\\nGPU: {rank}"]')
            out.append(f'  {r}_o [label="O Projection\\nL{layer} TP{rank}\\nInput: {heads}\\nOutput: {full}\\nGPU: {rank}"]')
            out.append(f"  {r}_q -> {r}_score\n  {r}_k -> {r}_score\n  {r}_score -> {r}_softmax\n  {r}_softmax -> {r}_ctx")
            out.append(f"  {r}_v -> {r}_ctx\n  {r}_ctx -> {r}_o\n  {r}_o -> {p}_ar")
        out.append(f'  {p}_res1 [label="Residual Add L{layer}\\nInput: {full}, {full}\\nOutput: {full}\\nGPU: TP0-TP{tp - 1}"]')
        out.append(f'  {p}_gate [label="Gate L{layer}\\nTop-8 of {experts}\\nInput: {full}\\nOutput: [batch_size=128, seq_len=4096, top_k=8]\\nGPU: TP0-TP{tp - 1}" shape=parallelogram]')
        out.append(f'  {p}_dispatch [label="All-to-All Dispatch L{layer}\\nSize: {full}\\nEP Group: EP0-EP{ep - 1}" shape=ellipse]')
        out.append(f'  {p}_combine [label="All-to-All Combine L{layer}\\nSize: {full}\\nEP Group: EP0-EP{ep - 1}" shape=ellipse]')
        out.append(f'  {p}_res2 [label="Residual Add L{layer}\\nInput: {full}, {full}\\nOutput: {full}\\nGPU: TP0-TP{tp - 1}"]')
        out.append(f"  {p}_ar -> {p}_res1\n  {previous} -> {p}_res1 [style=dashed]\n  {p}_res1 -> {p}_gate")
        out.append(f"  {p}_res1 -> {p}_dispatch\n  {p}_gate -> {p}_dispatch [style=dashed]\n  {p}_combine -> {p}_res2")
        out.append(f"  {p}_res1 -> {p}_res2 [style=dashed]")
        for expert in range(experts):
            rank = expert * ep // experts
            out.append(f'  {p}_e{expert} [label="Expert {expert}\\nL{layer} EP{rank}\\nInput: {full}\\nOutput: {full}\\nGPU: EP{rank}"]')
            out.append(f"  {p}_dispatch -> {p}_e{expert}\n  {p}_e{expert} -> {p}_combine")
        previous = f"{p}_res2"
    out.append(f'  output [label="Output\\nInput: {full}" shape=ellipse]\n  {previous} -> output\n}}\n')
    return "\n".join(out)
