from setuptools import find_packages, setup

setup(
    name="actors",
    version="0.1.0",
    description="Actor-as-a-service: run container images as actors, Abaco-compatible API",
    packages=find_packages(exclude=["tests", "tests.*", "bench"]),
    python_requires=">=3.9",
    install_requires=[
        "flask>=3.0,<4",
        "marshmallow>=3.20,<5",
        "redis>=5,<7",
        "rq>=2.0,<3",
        "docker>=7.0,<8",
        "pyjwt[crypto]>=2.8,<3",
        "cryptography>=41",  # Fernet for secret actor configs (also needed by pyjwt[crypto])
        "gunicorn>=22",
        "click>=8.1",
        "rich>=13",
        "requests>=2.31",
        "cloudpickle>=3.0",
        "fakeredis[lua]>=2.20",  # actors dev falls back to it when no Redis server exists
    ],
    extras_require={
        "test": ["pytest>=8", "fakeredis[lua]>=2.20", "pytest-timeout>=2.3"],
        "gpu": ["nvidia-ml-py>=12"],
    },
    entry_points={"console_scripts": ["actors=actors_api.cli:main"]},
)
