"""GeoLLaVA: fine-tune and evaluate LLaVA-family models for temporal change captioning of satellite images."""
import logging

# bitsandbytes warns at import, on CPUs with AVX512-BF16, that an optional kernel hub package is missing; it then
# uses its own CPU kernels, which is what we test with.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
