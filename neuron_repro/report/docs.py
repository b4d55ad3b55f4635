"""The claim registry as documentation: every claim's statement, citation, rule, rationale,
precondition, protocol and version history, generated from the declarations (each claim has
an anchor named by its id, which reports link to)."""

from __future__ import annotations

from neuron_repro.report.cells import precondition_text, protocol_text, published_text


def claim_registry(registry, sources: dict) -> str:
    """One section per source, one entry per claim."""
    lines = []
    for source, citation in sources.items():
        claims = [c for c in registry if c.source == source]
        if not claims:
            continue
        lines += [f"### {source}", "", f"{citation.reference}. {len(claims)} claims.", ""]
        for c in claims:
            lines += [f'<a id="{c.id}"></a>', "", f"**`{c.id}`** (v{c.version}, {c.kind})", "",
                      f"- Statement: {c.statement}.",
                      f"- Where: {c.citation.where or c.citation.reference}.",
                      f"- Published: {published_text(c)}" + (f" ({c.metric})" if c.metric
                                                              else "") + ".",
                      f"- Rule: {_rule(c)}."]
            if c.rationale:
                lines.append(f"- Why: {c.rationale}.")
            if c.preconditions:
                lines.append(f"- Precondition: {precondition_text(c)}.")
            if c.protocol:
                lines.append(f"- Protocol: {protocol_text(c.protocol)}.")
            lines.append(f"- Needs: {c.requirement_text()}; experiment "
                         f"`{c.experiment or 'not built yet'}`.")
            for entry in c.history:
                lines.append(f"- {entry}.")
            lines.append("")
    return "\n".join(lines).rstrip()


def _rule(c) -> str:
    if c.kind == "shape":
        return str(c.threshold)
    rule = f"{c.published} {c.tolerance}" if isinstance(c.published, int | float) else \
        "none: the source published no number"
    if c.kind == "value+shape" and c.shape_threshold is not None:
        rule += f"; shape: {c.shape_threshold}"
    return rule
