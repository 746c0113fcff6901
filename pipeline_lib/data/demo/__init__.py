"""A small synthetic GTA5 / SYNTHIA / Cityscapes in the real on-disk layouts, so the workflow runs on a CPU laptop.

The real datasets are ~70 GB behind registrations; the demo writes street scenes with exactly the file names,
folder layouts and label encodings of ``shared/spec/datasets_eval.md`` §1-§3 (GTA5 palette PNGs of Cityscapes
label IDs, SYNTHIA 16-bit PNGs with the class in the red channel, Cityscapes ``labelIds``/``instanceIds``), so
the same conversion code reads the demo and the real data.

Every image is drawn from one world model: a pinhole camera looking down a street (road trapezoid towards a
vanishing point, sidewalks, facades, poles with lights and signs, vehicles, pedestrians, riders...), so object
size follows depth. Source and target differ the way the real domains do, which is what adaptation methods
must overcome:

- appearance: per-domain colour palettes (one consistent, moderate colour transform plus a few per-class
  offsets), textures (window grids, facade stripes, fence lattices), lighting, sensor noise and blur;
- content: class frequencies (GTA5 has more cars and trucks, Cityscapes more people and vegetation, SYNTHIA
  no terrain/truck/train but lane markings and road works) and camera rigs (SYNTHIA's random elevated views,
  Cityscapes' fixed car-mounted camera with the ego vehicle's hood);
- image size.

Colour alone is ambiguous on purpose (building/wall/fence are similar greys, vehicles share paints, persons and
riders share clothes), so a model must use shape and context, and transfer is partial rather than trivial.

Each image comes from its own generator seeded by ``(seed, domain, index)``: a set is byte-identical for a seed
and independent of the order or number of other images generated.

Modules, from the spec to the files on disk:

- ``spec``: DemoSpec, how much to generate;
- ``codes``: scene codes (what a pixel shows) and their lookup tables to each dataset's label IDs;
- ``camera``: the pinhole camera and billboards that place objects in metres;
- ``canvas``: the Canvas that paints labels, instances and colours in step;
- ``domains``: each domain's SceneStyle (content, camera rig) and Look (appearance);
- ``street``: the street's lateral layout;
- ``scene``: the Scene that draws a street and its objects;
- ``render``: textures, lighting, noise and blur on the flat drawing;
- ``frame``: one seeded, checked, rendered frame;
- ``gta5``, ``synthia``, ``cityscapes``, ``acdc``: each dataset's files and label encoding (ACDC night: the
  second target domain, dark, noisy and soft, for adapting to and scoring on more than Cityscapes);
- ``generate``: generate_demo, every dataset and the manifest.
"""

from pipeline_lib.data.demo.cityscapes import CITYSCAPES_FRAME, TRAIN_CITIES, VAL_CITIES, cityscapes_stem
from pipeline_lib.data.demo.codes import Code
from pipeline_lib.data.demo.generate import MANIFEST_NAME, generate_demo
from pipeline_lib.data.demo.spec import DemoSpec

__all__ = [
    "CITYSCAPES_FRAME",
    "MANIFEST_NAME",
    "TRAIN_CITIES",
    "VAL_CITIES",
    "Code",
    "DemoSpec",
    "cityscapes_stem",
    "generate_demo",
]
