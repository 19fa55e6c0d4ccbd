"""The maintenance service's own diagnostics data: fault catalogues and registry facts."""
