"""Reports: what people and machines read (HTML, Markdown, CSV/JSON, figures, charts, render).

May import scoring and everything below it; never config or runs."""
