"""Basins follow the coordizer: nullable ``outcomes.basin`` and ``coordizer_version`` on
outcomes and kernels.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Intake stores an outcome's text without its basin; whoever trains the row computes the
basin and records the ``COORDIZER_VERSION`` that made it. A kernel records the version its
state was trained on, so a kernel and basins of another representation are never mixed.

Existing rows were all made by the coordizer bundled when this revision was written (one
vocabulary table ever shipped before it), ``LEGACY_COORDIZER_VERSION``. Outcome rows keep
``coordizer_version`` NULL (a catalogue-only column on PostgreSQL, no table rewrite); a
basin without a version is read as that legacy version, so claims and ``pantheon db
recoordize`` recompute it once the running coordizer differs. Kernel rows (a handful) get
the legacy version written, so they stay usable exactly while the coordizer is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Frozen copy of ``models.LEGACY_COORDIZER_VERSION`` (a migration never imports models).
LEGACY_COORDIZER_VERSION = "vocab-svd64-1:e6a7437db45d"
#: What a downgrade stores for a basin never computed: 64 float32 NaN.
_BLANK_BASIN = b"\x00\x00\xc0\x7f" * 64


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("coordizer_version", sa.String(length=100), nullable=True))
        batch.alter_column("basin", existing_type=sa.LargeBinary(), nullable=True)
    with op.batch_alter_table("kernels") as batch:
        batch.add_column(sa.Column("coordizer_version", sa.String(length=100), nullable=True))
    kernels = sa.table("kernels", sa.column("coordizer_version", sa.String()))
    op.execute(kernels.update().values(coordizer_version=LEGACY_COORDIZER_VERSION))


def downgrade() -> None:
    # 0002 has no NULL basins: a row whose basin was never computed gets a NaN basin,
    # which the claims of that revision quarantine instead of training on.
    outcomes = sa.table("outcomes", sa.column("basin", sa.LargeBinary()))
    op.execute(outcomes.update().where(outcomes.c.basin.is_(None)).values(basin=_BLANK_BASIN))
    with op.batch_alter_table("kernels") as batch:
        batch.drop_column("coordizer_version")
    with op.batch_alter_table("outcomes") as batch:
        batch.alter_column("basin", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("coordizer_version")
