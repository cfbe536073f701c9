# Settings shared by every demo config (pre-training, ablations, transfers).
# The scenes come from tools/dataset_converters/make_demo_scenes.py; the
# environment variable HVPT_DEMO_DATA (ending in '/') points elsewhere.
demo_data_root = '{{$HVPT_DEMO_DATA:data/hvpt_demo/}}'
demo_classes = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
demo_size = 64  # scene side in pixels
# A small Swin: 48-d, one block per stage, final stage 384-d: the
# cheapest one that learned the scenes' multi-labels (docs/experiments.md).
demo_arch = dict(embed_dims=48, depths=[1, 1, 1, 1], num_heads=[3, 6, 12, 24])
demo_stage_dims = [48, 96, 192, 384]
# Window 4; the last stage (2x2 at 64 px) is padded to it.
demo_window = 4
# Where tools/demo/run_demo.py puts the extracted pre-trained backbone.
demo_checkpoint = 'work_dirs/demo/pretrain/backbone.pth'
