"""Technician day planning and re-planning (pure optimizer, no gRPC or SQL).

- `planner.solve(problem, params) -> Solution`: day plans per technician (skills, territory, van
  stock, shift, lunch break, site opening hours in the site's timezone, hard/soft SLA, priority and
  customer weight), unassigned orders with a reason.
- `replan.replan(...)`: new plan around urgent orders, keeping visits under way fixed and starting
  from the current plan.
- `routing_core`: the OR-Tools routing model and search both of the above and the Solomon
  benchmark adapter (`solomon`, checked by the independent `solomon_check`) run on.
- CLI: `python -m services.maintenance.scheduling solve --format solomon FILE --time-limit S`.
"""
