"""Product rating: the mean of the reviews the store holds (retail.schemas.review_rating)

DummyJSON products kept the source's own overall rating (4.2 beside three stored reviews
averaging 2.67); every product's rating and review count are recomputed from its stored reviews.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    products = sa.table(
        "products", sa.column("id", sa.String), sa.column("rating", sa.Float),
        sa.column("review_count", sa.Integer),
    )  # fmt: skip
    reviews = sa.table(
        "reviews", sa.column("product_id", sa.String), sa.column("rating", sa.Integer)
    )
    of_product = reviews.c.product_id == products.c.id
    mean = sa.select(sa.func.round(sa.func.avg(reviews.c.rating), 2)).where(of_product)
    count = sa.select(sa.func.count()).select_from(reviews).where(of_product)
    op.get_bind().execute(
        products.update().values(
            rating=mean.scalar_subquery(), review_count=count.scalar_subquery()
        )
    )


def downgrade() -> None:
    """Downgrade schema: the sources' own figures are not kept, so the ratings stay."""
