# ImageNet-like setting: half of the online views masked (each image's view
# is masked with probability 0.5, else it reaches the image-level heads
# whole and adds nothing to the masked-pixel loss).
_base_ = './hvpt_swin-demo_1xb64-3e_labelled-scenes-96px.py'

train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], labelled_mask_prob=0.5),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
