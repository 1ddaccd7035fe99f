# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compliance trend as an inline SVG chart: one stacked bar per scan,
unwaived findings by severity, so the HTML report needs no script or fetch."""

from __future__ import annotations

from html import escape

SEVERITY_COLOURS = (('critical', '#7b1fa2'), ('high', '#c62828'), ('medium', '#ef6c00'), ('low', '#f9a825'),
                    ('info', '#607d8b'))
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 760, 220, 40, 34, 12


def _nice_max(value):
    """A round axis maximum at or above value."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4, step
    step = 10 ** len(str(int(value)))
    return step, step // 4


def trend_svg(records):
    """An SVG element (text) of the records, oldest first; every label escaped."""
    plot_w, plot_h = WIDTH - LEFT - 10, HEIGHT - BOTTOM - TOP
    top_value = max([sum(item['by_severity'].get(s, 0) for s, _c in SEVERITY_COLOURS) for item in records] + [1])
    axis_max, step = _nice_max(top_value)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d" '
             'aria-label="Findings by severity over the last %d scans">' % (WIDTH, HEIGHT, WIDTH, HEIGHT, len(records))]
    for tick in range(0, axis_max + 1, step):
        y = TOP + plot_h - plot_h * tick / axis_max
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (LEFT, WIDTH - 10, y, y))
        parts.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#555">%d</text>' % (LEFT - 4, y + 4, tick))
    slot = plot_w / max(len(records), 1)
    bar_width = max(min(slot * 0.7, 48), 2)
    label_every = max(1, len(records) // 8)
    for index, item in enumerate(records):
        x = LEFT + slot * index + (slot - bar_width) / 2
        y = TOP + plot_h
        when = escape(item.get('generated_at', ''))
        for severity, colour in reversed(SEVERITY_COLOURS):
            count = item['by_severity'].get(severity, 0)
            if not count:
                continue
            height = plot_h * count / axis_max
            y -= height
            parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d %s</title></rect>'
                         % (x, y, bar_width, height, colour, when, count, severity))
        if not item.get('complete', True):
            parts.append('<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="#c62828">'
                         '<title>%s: some hosts were not scanned</title>!</text>' % (x + bar_width / 2, TOP + plot_h - 2, when))
        if index % label_every == 0 or index == len(records) - 1:
            parts.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle" fill="#555">%s</text>'
                         % (x + bar_width / 2, HEIGHT - BOTTOM + 14, escape(item.get('generated_at', '')[:10])))
    parts.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#999"/>' % (LEFT, WIDTH - 10, TOP + plot_h, TOP + plot_h))
    legend_x = LEFT
    for severity, colour in SEVERITY_COLOURS:
        parts.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11">%s</text>'
                     % (legend_x, HEIGHT - 12, colour, legend_x + 14, HEIGHT - 3, severity))
        legend_x += 80
    parts.append('</svg>')
    return '\n'.join(parts)
