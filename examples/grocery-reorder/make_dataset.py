"""Generate the synthetic grocery-reorder dataset shipped with this example.

Each row is one (user, product) pair from a user's latest order; the label `reordered`
says whether the user bought that product again. Users and products are drawn first, so
user-level and product-level features are consistent across rows, as they would be in a
real feature store. The label comes from a logistic model of the features plus noise and
a few effects a linear model cannot capture (department, night-time orders), which keeps
the reachable validation AUC near 0.8 rather than near 1.

Deterministic: the same seed gives the same bytes, so the shipped CSV can be regenerated
and checked.

    python3 make_dataset.py                       # rewrites data/grocery_reorder_v1.csv
    python3 make_dataset.py --rows 2000 --out /tmp/small.csv
"""

import argparse
import csv
import math
import os
import random
import sys

DEFAULT_ROWS = 5000
DEFAULT_SEED = 20240501
USER_COUNT = 800
PRODUCT_COUNT = 2000
AISLE_COUNT = 134
DEPARTMENT_COUNT = 21

# The dataset's columns, defined here once: train.py reads FEATURES and LABEL from this module.
ID_COLUMNS = ["user_id", "product_id"]
FEATURES = [
    "days_since_prior_order",
    "user_order_count",
    "user_reorder_rate",
    "product_reorder_rate",
    "user_product_orders",
    "add_to_cart_order",
    "aisle_popularity",
    "department_id",
    "order_hour_of_day",
    "is_organic",
]
LABEL = "reordered"
COLUMNS = ID_COLUMNS + FEATURES + [LABEL]

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "data", "grocery_reorder_v1.csv")


def clamp(value, low, high):
    return max(low, min(high, value))


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def make_users(rng):
    users = []
    for user_id in range(1, USER_COUNT + 1):
        users.append({
            "user_id": user_id,
            "user_order_count": int(clamp(3 + rng.expovariate(1 / 14.0), 3, 99)),
            "user_reorder_rate": rng.betavariate(4, 3),
            "mean_days_between_orders": rng.uniform(4, 24),
            "preferred_hour": rng.gauss(14, 3.5),
        })
    return users


def make_products(rng):
    aisle_popularity = [rng.betavariate(2, 5) for _ in range(AISLE_COUNT)]
    aisle_department = [rng.randrange(DEPARTMENT_COUNT) + 1 for _ in range(AISLE_COUNT)]
    products = []
    for product_id in range(1, PRODUCT_COUNT + 1):
        aisle = rng.randrange(AISLE_COUNT)
        products.append({
            "product_id": product_id,
            "aisle_popularity": aisle_popularity[aisle],
            "department_id": aisle_department[aisle],
            # Staples in popular aisles are reordered more often than one-off purchases.
            "product_reorder_rate": clamp(rng.betavariate(3, 3) + 0.3 * (aisle_popularity[aisle] - 0.3), 0, 1),
            "is_organic": 1 if rng.random() < 0.2 else 0,
        })
    return products


def make_row(rng, user, product, department_effect):
    days = int(clamp(round(rng.gauss(user["mean_days_between_orders"], 5)), 0, 30))
    affinity = user["user_reorder_rate"] * product["product_reorder_rate"]
    prior = int(clamp(rng.expovariate(1.0 / (0.2 + 6 * affinity)), 0, user["user_order_count"] - 1))
    row = {
        "user_id": user["user_id"],
        "product_id": product["product_id"],
        "days_since_prior_order": days,
        "user_order_count": user["user_order_count"],
        "user_reorder_rate": user["user_reorder_rate"],
        "product_reorder_rate": product["product_reorder_rate"],
        "user_product_orders": prior,
        "add_to_cart_order": int(clamp(1 + rng.expovariate(1 / 8.0), 1, 50)),
        "aisle_popularity": product["aisle_popularity"],
        "department_id": product["department_id"],
        "order_hour_of_day": int(clamp(round(rng.gauss(user["preferred_hour"], 2)), 0, 23)),
        "is_organic": product["is_organic"],
    }
    row["reordered"] = 1 if rng.random() < sigmoid(reorder_logit(row, department_effect, rng)) else 0
    return row


def reorder_logit(row, department_effect, rng):
    z = 0.35
    z += 5.0 * (row["user_reorder_rate"] - 0.57)
    z += 5.0 * (row["product_reorder_rate"] - 0.5)
    z += 0.6 * math.log1p(row["user_product_orders"])
    z -= 0.06 * (row["days_since_prior_order"] - 12)
    z += 0.2 * math.log(row["user_order_count"] / 12.0)
    z += 0.9 * (row["aisle_popularity"] - 0.3)
    z -= 0.025 * (row["add_to_cart_order"] - 8)
    z += 0.25 * row["is_organic"]
    z += department_effect[row["department_id"]]
    if row["order_hour_of_day"] < 6:
        z -= 0.4  # night orders are exploratory: not linear in the hour, so a linear model misses it
    return z + rng.gauss(0, 0.6)


def generate(rows, seed):
    rng = random.Random(seed)
    users = make_users(rng)
    products = make_products(rng)
    department_effect = {d: rng.gauss(0, 0.3) for d in range(1, DEPARTMENT_COUNT + 1)}
    popularity = [p["aisle_popularity"] + 0.05 for p in products]
    seen = set()
    result = []
    while len(result) < rows:
        user = users[rng.randrange(USER_COUNT)]
        product = rng.choices(products, weights=popularity)[0]
        pair = (user["user_id"], product["product_id"])
        if pair in seen:  # one row per user_product, as the entity key promises
            continue
        seen.add(pair)
        result.append(make_row(rng, user, product, department_effect))
    return result


def format_value(value):
    return "%.4f" % value if isinstance(value, float) else str(value)


def write_csv(rows, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([format_value(row[column]) for column in COLUMNS])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    rows = generate(args.rows, args.seed)
    write_csv(rows, args.out)
    positives = sum(row["reordered"] for row in rows)
    print("wrote %d rows (%.1f%% reordered) to %s" % (len(rows), 100.0 * positives / len(rows), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
