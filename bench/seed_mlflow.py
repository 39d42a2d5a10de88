"""Seeds an MLflow tracking server's SQLite database with registered models and versions.

Usage: python bench/seed_mlflow.py DB_PATH MODELS VERSIONS_PER_MODEL

Rows go straight into the tables the server created (registered_models, model_versions), in one
transaction, because 100,000 create calls through the REST API would not fit the benchmark's time
budget. Griffin is seeded the same way (bench/registry.ts), so both start from equal data and
only the measured calls go through each API.
"""
import sqlite3
import sys
import time


def main() -> None:
    db_path, models, per_model = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    now = int(time.time() * 1000)
    con = sqlite3.connect(db_path, timeout=60)
    with con:
        con.executemany(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES (?, ?, ?, '')",
            [(f"m-{m:04d}", now, now) for m in range(models)],
        )
        con.executemany(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, current_stage,"
            " source, run_id, status, run_link, storage_location) VALUES (?, ?, ?, ?, '', 'None', ?, '', 'READY', '', ?)",
            (
                (f"m-{m:04d}", v, now, now, f"s3://bench/m-{m:04d}/v{v}", f"s3://bench/m-{m:04d}/v{v}")
                for m in range(models)
                for v in range(1, per_model + 1)
            ),
        )
    count = con.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0]
    con.close()
    print(count)


if __name__ == "__main__":
    main()
