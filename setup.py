from pathlib import Path

from setuptools import find_packages, setup

# The dashboard's files, served at /ui (actors_api/ui/__init__.py): whatever is in its folder.
UI = Path(__file__).resolve().parent / "actors_api" / "ui"
UI_FILES = sorted(str(f.relative_to(UI)) for f in (UI / "static").rglob("*") if f.is_file())

setup(
    name="actors",
    version="0.1.0",
    description="Actor-as-a-service: run container images as actors, Abaco-compatible API",
    packages=find_packages(exclude=["tests", "tests.*", "bench"]),
    python_requires=">=3.11",
    package_data={"actors_api": ["apidocs/*"], "actors_api.ui": UI_FILES},
    # Upper bounds are the newest versions the test suite has passed with: a new major or
    # minor release is taken in deliberately (cloudpickle 3.1.3 once changed tracebacks).
    install_requires=[
        "flask>=3.0,<3.2",
        "marshmallow>=3.20,<4.5",
        "redis>=5,<6.5",
        "hiredis>=3,<4",  # redis-py parses replies in C: less CPU per round trip
        "docker>=7.0,<7.3",
        "pyjwt[crypto]>=2.8,<2.16",
        "cryptography>=41,<51",  # Fernet for secret actor configs (also needed by pyjwt[crypto])
        "gunicorn>=22,<28",
        "click>=8.1,<8.6",
        "rich>=13,<16",
        "requests>=2.31,<2.35",
        "urllib3>=2.0,<2.9",  # spawner/safe_http.py builds on its connection classes
        "cloudpickle>=3.0,<3.2",
        "fakeredis[lua]>=2.20,<2.42",  # actors dev falls back to it when no Redis server exists
        "apispec[marshmallow]>=6.6,<6.11",  # the OpenAPI document (actors_api/openapi.py)
        "apispec-webframeworks>=1.2,<1.3",
        "swagger-ui-py>=25.7,<25.8",  # Swagger UI's files for /docs, served from the package
        "prometheus-client>=0.20,<0.27",  # /metrics and the spawners' metrics ports
    ],
    extras_require={
        "test": ["pytest>=8,<9.3", "fakeredis[lua]>=2.20,<2.42", "pytest-timeout>=2.3,<2.5",
                 "import-linter>=2.1,<2.17",  # lint-imports: the package rules in .importlinter
                 "schemathesis>=4.1,<4.33", "openapi-spec-validator>=0.7,<0.10",
                 "boto3>=1.34,<1.45", "moto[server]>=5.0,<5.3",
                 "selenium>=4.20,<4.52"],  # selenium drives Debian's chromium (test_dashboard.py)
        # boto3 and moto[server]: S3 outputs against a local S3 server
        "s3": ["boto3>=1.34,<1.45"],  # ACTORS_ARTIFACT_URL=s3://bucket/prefix
        "gpu": ["nvidia-ml-py>=12"],
    },
    entry_points={"console_scripts": ["actors=actors_cli.main:main"]},
)
