"""Report renderers: Markdown, self-contained HTML and JSON from one frozen Report."""
