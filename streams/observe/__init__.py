"""What people and Prometheus see: metrics and their HTTP exporter, Grafana
dashboards generated from code, the embedded report and the Prometheus report,
and an example Alertmanager webhook. May import the core and ``dike``.
"""
