"""Run an exported run_vlmevalkit.py in VLMEvalKit's environment with its Qwen2VLChat allowed onto a CPU: the
three places it demands CUDA (vlmeval/vlm/qwen2_vl/model.py in ms-vlmeval 0.0.20: an nvidia-smi free-memory
assertion, flash_attention_2 with device_map="auto", inputs.to('cuda')) are redirected; everything else —
VLMEvalKit's prompt, processing, generation, inference loop and prediction file — runs as it is.
    python vlmevalkit_on_cpu.py EXPORTED/run_vlmevalkit.py --config EXPORTED/config.json --mode all ...
"""
import runpy
import sys

import torch
import transformers
import vlmeval.vlm.qwen2_vl.model as qwen

qwen.get_gpu_memory = lambda: [1]

_from_pretrained = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained.__func__


def _on_cpu(cls, path, *args, **kwargs):
    kwargs.update(attn_implementation="sdpa", device_map="cpu", torch_dtype=torch.float32)
    return _from_pretrained(cls, path, *args, **kwargs)


transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained = classmethod(_on_cpu)
_to = transformers.BatchFeature.to
transformers.BatchFeature.to = lambda self, *a, **k: _to(self, "cpu") if a and a[0] == "cuda" else _to(self, *a, **k)

script = sys.argv[1]
sys.argv = [script, *sys.argv[2:]]
runpy.run_path(script, run_name="__main__")
