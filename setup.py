"""keras_inception: the Inception family (v1, BN-Inception, v3, v4, Inception-ResNet-v1/v2) for Keras 3."""

from setuptools import find_packages, setup

TEST_REQUIRES = [
    "pytest>=8",
    "pytest-timeout",
    "pytest-xdist",
    "hypothesis>=6",
    "nbclient>=0.10",
    "nbformat>=5",
    "ipykernel",
    # The gRPC path of examples/rest_client.py, tested against a local server.
    "tensorflow-serving-api",
]

setup(
    name="keras_inception",
    version="0.1.0",
    description="GoogLeNet, BN-Inception, Inception-v3/v4 and Inception-ResNet-v1/v2 for Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_inception", "keras_inception.*"]),
    package_data={"keras_inception": ["assets/*"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3",
        "tensorflow-datasets>=4.9",
        "pillow>=10",
        "ai-edge-litert>=1.0",
        "numpy",
        "scikit-learn>=1.3",
        "matplotlib>=3.7",
        "pyyaml>=6",
        "tensorboard>=2.16",
    ],
    extras_require={"test": TEST_REQUIRES},
    entry_points={"console_scripts": ["keras-inception=keras_inception.cli:main"]},
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
