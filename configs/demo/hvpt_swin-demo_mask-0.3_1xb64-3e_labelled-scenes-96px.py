# ImageNet-like setting: every online view masked at ratio 0.3 instead of
# 0.6 (11 of the 36 blocks), so that the image-level heads see 70 % of every
# view while masked image modeling still gets a masked region on each.
_base_ = './hvpt_swin-demo_1xb64-3e_labelled-scenes-96px.py'

train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        mask_generator=dict(_base_.scenes96_mask_generator, mask_ratio=0.3)),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
