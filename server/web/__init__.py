"""What every web page shares: templates and the page helper, static assets, Markdown
with math, plots. The pages themselves live with their domain (`server/*/pages.py`)."""
