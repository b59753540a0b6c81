"""Console pages: each module registers its routes on ``app.console.bp`` when imported."""
