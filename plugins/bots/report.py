"""The HTML report: one self-contained page in Spanish and English, rendered from findings.json.

No script, no external resource (plots are embedded as data: URIs), everything from the export
escaped (account names and texts are written by whoever made the campaign). The node's web pages can
serve :func:`render_report` of a findings.json later; the CLI writes it to ``DIR/report.html``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

__all__ = ["render_report"]

MAX_ACCOUNTS = 500  # rows of the accounts table (medium and high first)

LABELS = {
    "es": {
        "title": "Informe de coordinación",
        "summary": "Resumen",
        "clusters": "Grupos coordinados",
        "members": "Cuentas",
        "tier": "Nivel",
        "networks": "Pruebas",
        "p": "p (azar)",
        "share": "Parte del volumen",
        "objects": "Objetos compartidos",
        "gaps": "Intervalos entre publicaciones",
        "accounts": "Cuentas señaladas",
        "flags": "Señales",
        "sensitivity": "Sensibilidad a la ventana y al peso",
        "window": "Ventana (s)",
        "min_weight": "Peso mínimo",
        "edges": "Vínculos",
        "found": "Cuentas en grupos",
        "jaccard": "Coincidencia con el resultado principal",
        "inputs": "Archivos analizados",
        "parameters": "Parámetros",
        "plots": "Gráficos",
        "none": "Ningún grupo pasó las pruebas.",
        "caution": (
            "Estas pruebas muestran cuentas que actuaron juntas más de lo que explica el azar. No prueban "
            "que sean bots ni quién las maneja: la coordinación también es organización legítima."
        ),
        "tiers": {"high": "alto", "medium": "medio", "low": "bajo"},
        "verdicts": {
            "coordinated": "coordinadas",
            "coordinated, possibly organic": "coordinadas, posiblemente orgánicas",
            "possibly chance": "posiblemente azar",
        },
        "other": "English",
    },
    "en": {
        "title": "Coordination report",
        "summary": "Summary",
        "clusters": "Coordinated clusters",
        "members": "Accounts",
        "tier": "Tier",
        "networks": "Tests",
        "p": "p (chance)",
        "share": "Share of volume",
        "objects": "Shared objects",
        "gaps": "Gaps between posts",
        "accounts": "Flagged accounts",
        "flags": "Flags",
        "sensitivity": "Sensitivity to window and weight",
        "window": "Window (s)",
        "min_weight": "Minimum weight",
        "edges": "Edges",
        "found": "Accounts in clusters",
        "jaccard": "Agreement with the main result",
        "inputs": "Files analysed",
        "parameters": "Parameters",
        "plots": "Plots",
        "none": "No cluster passed the tests.",
        "caution": (
            "These tests show accounts that acted together more than chance explains. They do not prove "
            "that they are bots or who runs them: coordination is also legitimate organising."
        ),
        "tiers": {"high": "high", "medium": "medium", "low": "low"},
        "verdicts": {},
        "other": "Español",
    },
}

TEMPLATE = """<!doctype html>
<html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ L.es.title }} / {{ L.en.title }}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#222}
h1,h2,h3{line-height:1.2}table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.25rem .4rem;text-align:left;vertical-align:top;font-size:13px}
.card{border:1px solid #bbb;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.high{border-left:8px solid #b2182b}.medium{border-left:8px solid #ef8a62}.low{border-left:8px solid #999}
code,.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.caution{background:#fff7e6;border:1px solid #e0b060;padding:.5rem 1rem}
img{max-width:100%;height:auto}nav a{margin-right:1rem}
</style></head><body>
<nav><a href="#es">Español</a><a href="#en">English</a></nav>
{% for lang in ("es", "en") %}{% set l = L[lang] %}
<section id="{{ lang }}" lang="{{ lang }}">
<h1>{{ l.title }}</h1>
<p class="caution">{{ l.caution }}</p>
<h2>{{ l.summary }}</h2>
<p>{{ f.summary.sentence[lang] }}</p>
<h2>{{ l.clusters }}</h2>
{% if not f.clusters %}<p>{{ l.none }}</p>{% endif %}
{% for c in f.clusters %}
<div class="card {{ c.tier }}">
<h3>#{{ c.id }} · {{ l.tier }} {{ l.tiers[c.tier] }} ({{ c.tier_rule }}) ·
{{ l.verdicts.get(c.verdict, c.verdict) }}</h3>
<p>{{ c.explanation[lang] }}</p>
<table><tr><th>{{ l.members }}</th><td class="mono">{{ c.accounts | join(", ") }}</td></tr>
<tr><th>{{ l.networks }}</th><td>{{ c.networks | join(", ") }}</td></tr>
<tr><th>{{ l.p }}</th><td>
{{ c.p_value }} (q = {{ c.q_value }}; N1 {{ c.null.method }}, {{ c.null.repeats }})</td></tr>
<tr><th>{{ l.share }}</th><td>{{ "%.2f" | format(100 * c.share_of_volume) }} % ({{ c.posts }})</td></tr>
<tr><th>{{ l.gaps }}</th><td>
{% for n, g in c.time_gaps.items() %}{{ n }}: {% if g.pairs %}min {{ g.min_seconds }} s,
median {{ g.median_seconds }} s, max {{ g.max_seconds }} s ({{ g.pairs }}){% else %}-{% endif %}<br>
{% endfor %}</td></tr>
</table>
{% if c.shared_objects %}<table><tr><th>{{ l.objects }}</th><th>{{ l.networks }}</th><th>{{ l.members }}
</th></tr>
{% for o in c.shared_objects[:15] %}<tr><td class="mono">{{ o.object }}</td><td>{{ o.network }}</td><td>
{{ o.accounts }}</td></tr>{% endfor %}
</table>{% endif %}
</div>
{% endfor %}
<h2>{{ l.accounts }}</h2>
<table><tr><th>{{ l.members }}</th><th>{{ l.tier }}</th><th>{{ l.flags }}</th></tr>
{% for uid, a in accounts %}<tr><td class="mono">{{ uid }}{% if a.usernames %}<br>
{{ a.usernames | join(", ") }}{% endif %}</td><td>#{{ a.cluster }} {{ l.tiers[a.tier] }}</td>
<td>{% for fl in a.flags %}<b>{{ fl.rule }}</b> {{ fl.sentence[lang] }}<br>{% endfor %}</td></tr>{% endfor %}
</table>
{% if more_accounts %}<p>… +{{ more_accounts }} (findings.json)</p>{% endif %}
<h2>{{ l.sensitivity }}</h2>
<table><tr><th>{{ l.window }}</th><th>{{ l.min_weight }}</th><th>{{ l.edges }}</th><th>{{ l.found }}
</th><th>{{ l.jaccard }}</th></tr>
{% for row in f.sensitivity %}<tr><td>{{ row.window }}</td><td>{{ row.min_weight }}</td><td>
{{ row.edges }}</td><td>{{ row.accounts }}</td><td>{{ row.jaccard_with_main }}</td></tr>{% endfor %}
</table>
<h2>{{ l.plots }}</h2>
{% for name, uri in plots %}<p><img alt="{{ name }}" src="{{ uri }}"></p>{% endfor %}
<h2>{{ l.inputs }}</h2>
<table>{% for i in f.input %}<tr><td class="mono">{{ i.file }}</td>
<td class="mono">sha256 {{ i.sha256 }}</td><td>{{ i.format }}, {{ i.posts }} / {{ i.rows }}</td></tr>
{% endfor %}</table>
<h2>{{ l.parameters }}</h2>
<p class="mono">{% for k, v in f.parameters.items() %}{{ k }} = {{ v }}; {% endfor %}</p>
</section>
{% endfor %}
</body></html>
"""


def render_report(findings: Mapping[str, Any], plots: Mapping[str, bytes] | None = None) -> str:
    """The whole report as one HTML string (plots as PNG bytes, embedded)."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    order = {"high": 0, "medium": 1, "low": 2}
    accounts = sorted(
        findings.get("accounts", {}).items(), key=lambda kv: (order.get(kv[1].get("tier"), 3), kv[0])
    )
    uris = [
        (name, "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
        for name, png in (plots or {}).items()
        if png[:8] == b"\x89PNG\r\n\x1a\n"
    ]
    return env.from_string(TEMPLATE).render(
        f=findings,
        L=LABELS,
        accounts=accounts[:MAX_ACCOUNTS],
        more_accounts=max(0, len(accounts) - MAX_ACCOUNTS),
        plots=uris,
    )
