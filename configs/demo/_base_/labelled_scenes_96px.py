# The ImageNet-like CPU setting of the demo: every pre-training scene is
# labelled (as every ImageNet image is), scenes are 96 px and the SimMIM mask
# is a 6 x 6 grid of 16-px blocks, the grid of 32-px blocks on the 192-px
# ImageNet views. Window 3 gives the Swin's stages 24 / 12 / 6 / 3 tokens, an
# exact window multiple each, as window 6 does at 192 px (48 / 24 / 12 / 6).
# The scenes come from
#   python tools/dataset_converters/make_demo_scenes.py data/hvpt_scenes_96px \
#       --size 96 --unlabelled-fraction 0
# (HVPT_DEMO_DATA, ending in '/', points elsewhere).
scenes96_data_root = '{{$HVPT_DEMO_DATA:data/hvpt_scenes_96px/}}'
scenes96_size = 96
scenes96_window = 3
scenes96_mask_generator = dict(
    type='SimMIMMaskGenerator', mask_patch_size=16, model_patch_size=4,
    mask_ratio=0.6)
