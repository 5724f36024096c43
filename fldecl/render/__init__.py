"""How plans, diagnostics and state are shown: text for people, JSON for tools, Markdown for reviews."""
