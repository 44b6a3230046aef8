"""Reports (báo cáo): Biểu II.06a, the Decision 766 indicators, and the on-time rate by week with
the units ranked, over the dossiers processing stores.

- ``figures``: the arithmetic, pure functions of ``DossierRecord``s (the rules are stated there);
- ``records``: the records of a period within a member of staff's reach, read in two statements;
- ``service``: both together, with names, as the routes and the pages ask for them;
- ``chart``: the on-time rate by week and the ranking as SVG, each with its table (for a page:
  ``chart.on_time_svg(report.weeks, language)`` with ``service.on_time_report(…)``);
- ``downloads``: CSV and XLSX files; ``api``: ``GET /api/v1/reports/…``.
"""
