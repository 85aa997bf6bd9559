"""Markdown and recipe source rendered once, when written

Notes, comments, link notes and phenomenon descriptions were rendered from
Markdown (with math) on every page view, and recipe source highlighted on every
view: one 4.8 MB note of `$x^2$` cost 51 s of CPU per view. Each now has a
column holding its sanitised HTML, rendered when it is written
(server.web.markup); this migration adds the columns and renders the rows that
are already there, a batch at a time.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# table -> (the text column, its HTML column, how it is rendered)
RENDERED = {
    "observation_version": ("notes", "notes_html", "markdown"),
    "comment": ("body", "body_html", "markdown"),
    "link": ("note", "note_html", "markdown"),
    "phenomenon": ("description", "description_html", "markdown"),
    "recipe": ("source", "source_html", "source"),
}
BATCH = 200


def upgrade() -> None:
    for table, (_, html, _) in RENDERED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(html, sa.Text(), nullable=False, server_default=""))
    from server.web.markup import highlight_source, render_markdown

    renderers = {"markdown": render_markdown, "source": highlight_source}
    connection = op.get_bind()
    for table, (text_column, html, how) in RENDERED.items():
        render = renderers[how]
        quoted = f'"{table}"'
        last = 0
        while True:
            rows = connection.execute(sa.text(
                f"SELECT id, {text_column} FROM {quoted} WHERE id > :last AND {text_column} "
                f"IS NOT NULL AND {text_column} <> '' ORDER BY id LIMIT {BATCH}"),
                {"last": last}).all()
            if not rows:
                break
            for row_id, value in rows:
                connection.execute(sa.text(f"UPDATE {quoted} SET {html} = :html WHERE id = :id"),
                                   {"html": str(render(value)), "id": row_id})
            last = rows[-1][0]


def downgrade() -> None:
    for table, (_, html, _) in RENDERED.items():
        # ALTER TABLE ... DROP COLUMN (SQLite 3.35+): recreating the table, as batch
        # mode would, fails on SQLite while other tables' foreign keys point at it.
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.drop_column(html)
