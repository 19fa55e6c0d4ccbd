"""`fleetctl`: a command-line client of the fleet, maintenance and invoicing services."""
