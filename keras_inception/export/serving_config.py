"""TF Serving's side files: ``models.config`` and ``batching_parameters.txt``.

Both are text protos read by ``tensorflow_model_server`` through
``--model_config_file`` and ``--batching_parameters_file``; ``docs/serving.md``
shows the ``docker run tensorflow/serving`` command that uses them.
"""

import os
import re

from keras_inception import atomic
from keras_inception import faults

MODELS_CONFIG = "models.config"
BATCHING_PARAMETERS = "batching_parameters.txt"
# Where ``docs/serving.md`` mounts the export base directory in the container.
DEFAULT_SERVING_BASE_PATH = "/models"

# A starting point for CPU serving: batches of up to 32 requests, waiting at
# most 5 ms for a batch to fill, so a lone request pays little latency.
BATCHING_TEXT = """\
max_batch_size { value: 32 }
batch_timeout_micros { value: 5000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 4 }
pad_variable_length_inputs: false
"""

_VERSION_DIR = re.compile(r"^[0-9]+$")


def model_versions(model_dir):
    """The integer versions exported under ``model_dir``, ascending."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(model_dir)
        if _VERSION_DIR.match(entry) and os.path.isdir(os.path.join(model_dir, entry))
    )


def write_serving_config(base_dir, serving_base_path=DEFAULT_SERVING_BASE_PATH):
    """Writes ``models.config`` (every model under ``base_dir``) and ``batching_parameters.txt``.

    Args:
        base_dir: the export base directory, holding ``<model_name>/<version>/``.
        serving_base_path: where the server sees ``base_dir``, default
            ``"/models"`` (the container path of ``docs/serving.md``).

    Returns:
        ``(models_config_path, batching_parameters_path)``.
    """
    names = sorted(
        entry for entry in os.listdir(base_dir) if model_versions(os.path.join(base_dir, entry))
    )
    entries = "".join(
        "  config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{serving_base_path.rstrip("/")}/{name}"\n'
        '    model_platform: "tensorflow"\n'
        "  }\n"
        for name in names
    )
    config_path = os.path.join(base_dir, MODELS_CONFIG)
    batching_path = os.path.join(base_dir, BATCHING_PARAMETERS)
    faults.point("export.before_models_config")
    atomic.write_text(config_path, f"model_config_list {{\n{entries}}}\n")
    faults.point("export.models_config_written")
    atomic.write_text(batching_path, BATCHING_TEXT)
    return config_path, batching_path
