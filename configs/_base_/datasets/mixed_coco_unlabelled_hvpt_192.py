# COCO 2017 image-level labels (80 classes) + an unlabelled image folder,
# one shared class space. Unlabelled images (has_label=False) train masked
# image modeling and the contrastive signal only. A delta on the ImageNet
# data config; a pretrain config using it sets model.mlc_head.num_classes
# from num_classes below (HVPTRunner stops on a mismatch before training).
#
#   data/coco/annotations/instances_train2017.json
#   data/coco/train2017/*.jpg
#   data/unlabelled/**/*.jpg            (any depth; or set ann_file)
_base_ = './imagenet_bs128_hvpt_192.py'

# The shared class space (a list, or a text file with one name a line).
# COCO categories are mapped into it by name.
classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train',
    'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')
num_classes = 80
input_size = 192

# The ImageNet base's recipe (every view masked at ratio 0.3), with the new
# class count: with ImageNet beside COCO (the pre-training config), labelled
# images are the great majority. With a large unlabelled share, the CPU
# demo's recipe (labelled_mask_prob=0., ratio 0.6) is the measured
# alternative (docs/benchmarks.md).
train_pipeline = [
    # Web-scale folders hold a few broken files: skip them with a warning.
    dict(type='HVPTLoadImageFromFile', skip_unreadable=True),
    dict(_base_.train_pipeline[1], num_classes=num_classes),
    *_base_.train_pipeline[2:],
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HVPTMixedDataset',
        classes=classes,
        datasets=[
            dict(
                type='HVPTCocoMultiLabelDataset',
                data_root='data/coco/',
                ann_file='annotations/instances_train2017.json',
                data_prefix='train2017/',
                classes=classes,
                pipeline=train_pipeline),
            dict(
                type='HVPTUnlabelledDataset',
                data_root='data/unlabelled/',
                pipeline=train_pipeline),
        ]))
