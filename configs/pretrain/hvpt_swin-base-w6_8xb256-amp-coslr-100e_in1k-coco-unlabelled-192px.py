# HVP pre-training of Swin-B on three sets at once: ImageNet-1K
# (single labels), COCO 2017 train (image-level multi-labels from its
# instances) and a folder of unlabelled images, which train masked image
# modeling and the contrastive signal only. Otherwise the main recipe
# (hvpt_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py: 8 GPUs x 256
# images). Data layouts: docs/data.md.
#
#   tools/dist_train.sh configs/pretrain/<this file> 8
#
#   data/imagenet/train/<wnid>/*.JPEG + data/imagenet/meta/train.txt
#   data/coco/train2017/*.jpg + data/coco/annotations/instances_train2017.json
#   data/unlabelled/**/*.jpg
#
# Class space: 1080 classes, the two label sets side by side.
# - 0-999: ImageNet-1K's classes, in the label order of meta/train.txt
#   (the sorted wnid folders), named 'imagenet-<label>'. The list file is
#   required: its labels are read as they are.
# - 1000-1079: COCO's 80 categories, to which the COCO file's categories
#   are mapped by name.
# The sets stay apart even where names meet ('banana' is in both; 'kite' is
# a bird in ImageNet and a toy in COCO), so each class keeps the meaning of
# the annotations it comes from. A labelled image is a negative for every
# class of the other set, also where that is untrue (a COCO photo of a dog
# is negative for ImageNet's dog breeds); ImageNet's 1.28 M images against
# COCO's 118 K keep that noise small.
_base_ = [
    '../_base_/models/hvpt_swin-base-w6.py',
    '../_base_/datasets/mixed_coco_unlabelled_hvpt_192.py',
    '../_base_/schedules/hvpt_adamw_coslr-100e.py',
    '../_base_/default_runtime.py',
]

imagenet_classes = tuple(f'imagenet-{i}' for i in range(1000))
classes = imagenet_classes + _base_.classes
num_classes = len(classes)

train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], num_classes=num_classes),
    *_base_.train_pipeline[2:],
]
coco, unlabelled = _base_.train_dataloader.dataset.datasets
train_dataloader = dict(
    batch_size=256,
    dataset=dict(
        classes=classes,
        datasets=[
            dict(
                type='HVPTImageNet',
                data_root='data/imagenet/',
                split='train',
                ann_file='meta/train.txt',
                classes=classes,
                pipeline=train_pipeline),
            dict(coco, classes=classes, pipeline=train_pipeline),
            dict(unlabelled, pipeline=train_pipeline),
        ]))
del coco, unlabelled

model = dict(
    mlc_head=dict(
        num_classes=num_classes,
        # About 1.2 positive classes per labelled image (ImageNet 1, COCO
        # 2.9, weighted by their sizes) among the 1080.
        init_prior=1.2 / num_classes))

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
