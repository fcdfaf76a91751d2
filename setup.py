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
    package_data={"actors_api.ui": UI_FILES},
    python_requires=">=3.11",
    # Upper bounds are the newest versions the test suite has passed with: a new major or
    # minor release is taken in deliberately (cloudpickle 3.1.3 once changed tracebacks).
    install_requires=[
        "flask>=3.0,<3.2",
        "marshmallow>=3.20,<4.5",
        "redis>=5,<6.5",
        "rq>=2.0,<2.13",
        "docker>=7.0,<7.3",
        "pyjwt[crypto]>=2.8,<2.16",
        "cryptography>=41,<51",  # Fernet for secret actor configs (also needed by pyjwt[crypto])
        "gunicorn>=22,<28",
        "click>=8.1,<8.6",
        "rich>=13,<16",
        "requests>=2.31,<2.35",
        "cloudpickle>=3.0,<3.2",
        "fakeredis[lua]>=2.20,<2.42",  # actors dev falls back to it when no Redis server exists
    ],
    extras_require={
        "test": ["pytest>=8,<9.3", "fakeredis[lua]>=2.20,<2.42", "pytest-timeout>=2.3,<2.5",
                 "selenium>=4.20,<4.52"],  # drives Debian's chromium in test_dashboard.py
        "gpu": ["nvidia-ml-py>=12"],
    },
    entry_points={"console_scripts": ["actors=actors_api.cli:main"]},
)
