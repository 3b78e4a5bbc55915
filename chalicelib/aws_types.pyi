"""boto3 client and request types, for type checking only (boto3-stubs, requirements-dev.txt).

This module has no runtime counterpart: import it under ``if TYPE_CHECKING:`` only. The
stub packages are development tools, not Lambda dependencies, so their names are kept
out of the deployed ``.py`` files (tests/unit/test_template.py checks that every import
of those files is in requirements.txt).
"""

from mypy_boto3_dynamodb import DynamoDBClient as DynamoDBClient
from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef as TransactWriteItemTypeDef
from mypy_boto3_s3 import S3Client as S3Client
from mypy_boto3_s3.type_defs import ListObjectsV2RequestPaginateTypeDef as ListObjectsV2RequestPaginateTypeDef
from mypy_boto3_secretsmanager import SecretsManagerClient as SecretsManagerClient
from mypy_boto3_sns import SNSClient as SNSClient
from mypy_boto3_sqs import SQSClient as SQSClient
